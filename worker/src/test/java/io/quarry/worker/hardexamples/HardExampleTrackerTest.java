package io.quarry.worker.hardexamples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.datadoghq.sketch.ddsketch.DDSketch;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.sketch.LossSketch;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HardExampleTrackerTest {
  private static final String RUN = "run-1";
  private static final String WORKER = "worker-a";

  /** The naive model: every id's highest loss in the window (and the first step it was seen at), kept in full. */
  private static final class BruteForce {
    final Map<Long, float[]> maxLossById = new HashMap<>();
    final Map<Long, Long> stepById = new HashMap<>();
    final List<Float> intervalLosses = new ArrayList<>();
    long nonFinite;

    void offer(long id, float loss, long step) {
      if (Float.isNaN(loss) || Float.isInfinite(loss)) {
        nonFinite++;
        return;
      }
      intervalLosses.add(loss);
      float[] max = maxLossById.get(id);
      if (max == null || loss > max[0]) {
        maxLossById.put(id, new float[] {loss});
        stepById.put(id, step);
      }
    }

    /** The K highest per-id losses, highest first; which ids hold tied losses at the boundary is left open. */
    float[] topLosses(int k) {
      return maxLossById.values().stream()
          .map(m -> m[0])
          .sorted((a, b) -> Float.compare(b, a))
          .limit(k)
          .collect(() -> new FloatList(), FloatList::add, FloatList::addAll)
          .toArray();
    }
  }

  private static final class FloatList {
    float[] values = new float[16];
    int size;

    void add(float v) {
      if (size == values.length) values = Arrays.copyOf(values, size * 2);
      values[size++] = v;
    }

    void addAll(FloatList other) {
      for (int i = 0; i < other.size; i++) add(other.values[i]);
    }

    float[] toArray() {
      return Arrays.copyOf(values, size);
    }
  }

  /** Losses with ties (a coarse grid half the time), a few NaNs and infinities, and some repeated sample ids. */
  private static float randomLoss(SplittableRandom random) {
    int kind = random.nextInt(100);
    if (kind < 2) return Float.NaN;
    if (kind < 3) return random.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
    if (kind < 50) return (1 + random.nextInt(40)) * 0.25f;
    return (float) (-Math.log(1 - random.nextDouble()) * 2 + 1e-3);
  }

  private static void assertMatchesBruteForce(String where, List<HardExample> entries, BruteForce model, int k) {
    assertTrue(entries.size() <= k, where + ": more than K entries");
    assertEquals(Math.min(k, model.maxLossById.size()), entries.size(), where + ": size");
    HashSet<Long> ids = new HashSet<>();
    for (int i = 0; i < entries.size(); i++) {
      HardExample e = entries.get(i);
      assertTrue(ids.add(e.sampleId()), where + ": duplicate sample id " + e.sampleId());
      assertEquals(WORKER, e.workerId());
      assertEquals(model.maxLossById.get(e.sampleId())[0], e.loss(), where + ": not the id's highest loss " + e);
      assertEquals(model.stepById.get(e.sampleId()), e.step(), where + ": not the step of the highest loss " + e);
      if (i > 0) {
        HardExample prev = entries.get(i - 1);
        assertTrue(prev.loss() > e.loss() || (prev.loss() == e.loss() && prev.sampleId() < e.sampleId()),
            where + ": out of order at " + i + ": " + prev + " then " + e);
      }
    }
    float[] actual = new float[entries.size()];
    for (int i = 0; i < actual.length; i++) actual[i] = entries.get(i).loss();
    assertArrayEquals(model.topLosses(k), actual, where + ": not the top-K losses");
  }

  private static void checkAgainstBruteForce(long seed, boolean runWindow) {
    SplittableRandom random = new SplittableRandom(seed);
    int k = 1 + random.nextInt(64);
    int idSpace = k + random.nextInt(8 * k); // small enough that ids repeat often
    HardExampleTracker tracker = new HardExampleTracker(WORKER, k, runWindow);
    BruteForce window = new BruteForce();
    long step = 0;
    long nonFinite = 0;
    for (int merge = 0; merge < 5; merge++) {
      double threshold = merge == 0 ? Double.NaN : random.nextDouble() * 5;
      tracker.setThreshold(threshold);
      BruteForce interval = new BruteForce();
      int offers = random.nextInt(2000);
      for (int i = 0; i < offers; i++) {
        if (random.nextInt(32) == 0) step++;
        long id = random.nextInt(idSpace);
        float loss = randomLoss(random);
        tracker.offer(id, loss, step);
        window.offer(id, loss, step);
        interval.offer(id, loss, step);
        assertTrue(tracker.size() <= k);
      }
      nonFinite += interval.nonFinite;
      String where = "seed " + seed + ", merge " + merge + (runWindow ? ", run window" : ", interval window");
      assertMatchesBruteForce(where, tracker.entries(), window, k);
      assertEquals(nonFinite, tracker.nonFiniteLosses(), where + ": nonFiniteLosses");

      HardExampleSnapshot snapshot = tracker.snapshot(RUN, merge);
      assertMatchesBruteForce(where + " (snapshot)", snapshot.entries(), window, k);
      assertEquals(interval.intervalLosses.size(), snapshot.samplesSeen(), where + ": samplesSeen");
      float max = (float) interval.intervalLosses.stream().mapToDouble(f -> f).max().orElse(Double.NaN);
      assertEquals(max, snapshot.maxLoss(), where + ": maxLoss");
      long above = interval.intervalLosses.stream().filter(l -> l > threshold).count();
      assertEquals(above, snapshot.aboveThreshold(), where + ": aboveThreshold");
      assertEquals((double) interval.intervalLosses.size(), LossSketch.decode(snapshot.lossSketch()).getCount());

      if (!runWindow) {
        window = new BruteForce();
        assertEquals(0, tracker.size(), where + ": interval window must restart the buffer");
      } else {
        assertEquals(snapshot.entries(), tracker.entries(), where + ": run window must keep the buffer");
      }
      assertEquals(0, tracker.samplesSeen());
      assertTrue(Float.isNaN(tracker.maxLoss()));
    }
  }

  @Test
  void keepsTheBruteForceTopKOfEachIntervalWindow() {
    for (long seed = 0; seed < 200; seed++) {
      checkAgainstBruteForce(seed, false);
    }
  }

  @Test
  void keepsTheBruteForceTopKOfTheWholeRunInTheRunWindow() {
    for (long seed = 1000; seed < 1200; seed++) {
      checkAgainstBruteForce(seed, true);
    }
  }

  @Test
  void sampleSeenAgainKeepsItsHighestLossAndThatLossesStep() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 4, false);
    assertTrue(tracker.offer(7, 1.0f, 1));
    assertTrue(tracker.offer(7, 3.0f, 2));
    assertFalse(tracker.offer(7, 2.0f, 3));
    assertFalse(tracker.offer(7, 3.0f, 4));
    assertEquals(List.of(new HardExample(7, 3.0f, WORKER, 2)), tracker.entries());
  }

  @Test
  void labelsAndPredictionsFollowTheirEntriesThroughTheHeap() {
    for (long seed = 0; seed < 50; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      int k = 1 + random.nextInt(48);
      HardExampleTracker tracker = new HardExampleTracker(WORKER, k, true);
      BruteForce model = new BruteForce();
      for (int step = 0; step < 40; step++) {
        int n = random.nextInt(200);
        long[] ids = new long[n];
        float[] losses = new float[n];
        int[] labels = new int[n];
        int[] predicted = new int[n];
        for (int i = 0; i < n; i++) {
          ids[i] = random.nextInt(4 * k + 1);
          losses[i] = randomLoss(random);
          labels[i] = labelOf(ids[i]);
          predicted[i] = predictionOf(ids[i], step);
          model.offer(ids[i], losses[i], step);
        }
        tracker.offer(ids, losses, labels, predicted, n, step);
      }
      String where = "seed " + seed;
      assertMatchesBruteForce(where, tracker.entries(), model, k);
      for (HardExample entry : tracker.snapshot(RUN, 0).entries()) {
        assertEquals(labelOf(entry.sampleId()), entry.label(), where + ": label of " + entry);
        assertEquals(model.stepById.get(entry.sampleId()), entry.step(), where + ": step of " + entry);
        assertEquals(predictionOf(entry.sampleId(), entry.step()), entry.predicted(),
            where + ": the prediction at the entry's highest loss, " + entry);
      }
    }
  }

  private static int labelOf(long id) {
    return (int) (id % 7);
  }

  private static int predictionOf(long id, long step) {
    return (int) ((id + step) % 5);
  }

  @Test
  void offersWithoutLabelsLeaveThemUnknown() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 4, false);
    tracker.offer(new long[] {1, 2}, new float[] {1f, 2f}, 2, 0);
    tracker.offer(3, 3f, 0);
    tracker.offer(new long[] {4}, new float[] {4f}, null, new int[] {6}, 1, 0);

    assertEquals(List.of(
        new HardExample(4, 4f, WORKER, 0, HardExample.UNKNOWN, 6),
        new HardExample(3, 3f, WORKER, 0),
        new HardExample(2, 2f, WORKER, 0),
        new HardExample(1, 1f, WORKER, 0)), tracker.entries());
    assertTrue(tracker.entries().stream().skip(1).noneMatch(e -> e.hasLabel() || e.hasPrediction()));
  }

  @Test
  void aHigherLossTakesTheNewPredictionAndKeepsAKnownLabel() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 2, false);
    assertTrue(tracker.offer(7, 1f, 3, 1, 10));
    assertFalse(tracker.offer(7, 0.5f, 3, 2, 11), "a lower loss changes nothing");
    assertEquals(new HardExample(7, 1f, WORKER, 10, 3, 1), tracker.entries().get(0));

    assertTrue(tracker.offer(7, 2f, HardExample.UNKNOWN, 4, 12));

    assertEquals(List.of(new HardExample(7, 2f, WORKER, 12, 3, 4)), tracker.entries());
  }

  @Test
  void fullBufferTurnsAwayLossesAtOrBelowItsMinimum() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 3, false);
    tracker.offer(1, 1.0f, 0);
    tracker.offer(2, 2.0f, 0);
    tracker.offer(3, 3.0f, 0);
    assertEquals(1.0f, tracker.minLoss());
    assertFalse(tracker.offer(4, 1.0f, 0));
    assertFalse(tracker.offer(5, 0.5f, 0));
    assertEquals(2, tracker.rejectedOffers());
    assertTrue(tracker.offer(6, 1.5f, 0));
    assertEquals(1.5f, tracker.minLoss());
    assertEquals(List.of(3L, 2L, 6L), tracker.entries().stream().map(HardExample::sampleId).toList());
  }

  @Test
  void equalLossesAreListedBySampleId() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 8, false);
    for (long id : new long[] {9, 3, 5, 1}) tracker.offer(id, 2.0f, 0);
    tracker.offer(4, 7.0f, 0);
    assertEquals(List.of(4L, 1L, 3L, 5L, 9L), tracker.entries().stream().map(HardExample::sampleId).toList());
  }

  @Test
  void nonFiniteLossesAreCountedButNeverRankedNorSketched() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 2, false);
    tracker.setThreshold(0.5);
    assertFalse(tracker.offer(1, Float.NaN, 0));
    assertFalse(tracker.offer(5, Float.POSITIVE_INFINITY, 0));
    assertFalse(tracker.offer(6, Float.NEGATIVE_INFINITY, 0));
    tracker.offer(new long[] {2, 3, 4, 7, 8},
        new float[] {Float.NaN, 1.0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}, 5, 1);
    assertEquals(7, tracker.nonFiniteLosses());
    assertEquals(1, tracker.samplesSeen());
    assertEquals(1, tracker.aboveThreshold());
    assertEquals(1.0f, tracker.maxLoss(), "an infinite loss is not the interval's maximum");
    assertEquals(0, tracker.rejectedOffers(), "a non-finite loss is counted as such, not as a rejection");
    HardExampleSnapshot snapshot = tracker.snapshot(RUN, 0);
    assertEquals(List.of(new HardExample(3, 1.0f, WORKER, 1)), snapshot.entries());
    assertEquals(1.0, LossSketch.decode(snapshot.lossSketch()).getCount());
  }

  @Test
  void batchOfferHonoursCount() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 8, false);
    tracker.offer(new long[] {1, 2, 3}, new float[] {1f, 2f, 3f}, 2, 5);
    assertEquals(2, tracker.size());
    assertEquals(2, tracker.samplesSeen());
  }

  @Test
  void thresholdCountsOnlyStrictlyHigherLossesAndNothingBeforeTheFirstMerge() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 4, true);
    tracker.offer(1, 5.0f, 0);
    assertEquals(0, tracker.aboveThreshold());
    tracker.setThreshold(2.0);
    tracker.offer(2, 2.0f, 0);
    tracker.offer(3, 2.5f, 0);
    assertEquals(1, tracker.aboveThreshold());
    assertEquals(1, tracker.snapshot(RUN, 0).aboveThreshold());
    assertEquals(0, tracker.aboveThreshold());
    assertEquals(2.0, tracker.threshold());
  }

  @Test
  void snapshotOfAnEmptyIntervalHasNoMaxLossAndAnEmptySketch() {
    HardExampleTracker tracker = new HardExampleTracker(WORKER, 4, false);
    HardExampleSnapshot snapshot = tracker.snapshot(RUN, 3);
    assertEquals(RUN, snapshot.runId());
    assertEquals(3, snapshot.merge());
    assertEquals(WORKER, snapshot.workerId());
    assertTrue(snapshot.entries().isEmpty());
    assertEquals(0, snapshot.samplesSeen());
    assertTrue(Float.isNaN(snapshot.maxLoss()));
    assertTrue(LossSketch.decode(snapshot.lossSketch()).isEmpty());
  }

  @Test
  void sketchQuantilesAreWithinOnePercentOfTheExactQuantiles() {
    for (long seed = 0; seed < 20; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      HardExampleTracker tracker = new HardExampleTracker(WORKER, 16, false);
      int n = 1 + random.nextInt(50_000);
      float[] losses = new float[n];
      for (int i = 0; i < n; i++) {
        losses[i] = (float) Math.exp(random.nextGaussian() * 2); // spans several orders of magnitude
        tracker.offer(i, losses[i], 0);
      }
      DDSketch sketch = LossSketch.decode(tracker.snapshot(RUN, 0).lossSketch());
      Arrays.sort(losses);
      for (double q : new double[] {0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1}) {
        double exact = losses[(int) Math.floor(q * (n - 1))];
        double estimate = LossSketch.quantile(sketch, q);
        assertEquals(exact, estimate, exact * LossSketch.RELATIVE_ACCURACY * 1.0001,
            "seed " + seed + ", n " + n + ", quantile " + q);
      }
    }
  }

  /**
   * Losses for the pre-aggregation tests: mostly in the histogram's window, plus every kind that bypasses it
   * (zeros, negatives, infinities, subnormals, below 2^-24, at and above 2^24) and the window's edges.
   */
  private static float mixedLoss(SplittableRandom random) {
    int kind = random.nextInt(100);
    switch (kind) {
      case 0: return 0.0f;
      case 1: return -0.0f;
      case 2: return (float) -Math.exp(random.nextGaussian() * 3); // negative
      case 3: return (float) Math.scalb(1 + random.nextDouble(), -40 - random.nextInt(60)); // below 2^-24
      case 4: return Float.MIN_VALUE * (1 + random.nextInt(1000)); // subnormal
      case 5: return (float) Math.scalb(1 + random.nextDouble(), 24 + random.nextInt(100)); // 2^24 and above
      case 6: return random.nextBoolean() ? 0x1p-24f : 0x1p24f; // window edges: first bin, first bin above
      case 7: return Math.nextDown(random.nextBoolean() ? 0x1p-24f : 0x1p24f); // just outside, just inside
      case 8: return random.nextInt(4) == 0 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY;
      case 9: return Float.NaN;
      default: return (float) Math.exp(random.nextGaussian() * 3); // in the window, many binades
    }
  }

  /** The plain DDSketch the tracker stands for: every finite loss accepted. */
  private static void acceptPlain(DDSketch plain, float loss) {
    if (Float.isFinite(loss)) plain.accept(loss);
  }

  @Test
  void preAggregatedSketchEqualsAPlainSketchOfTheSameLosses() {
    for (long seed = 0; seed < 40; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      HardExampleTracker tracker = new HardExampleTracker(WORKER, 8, seed % 2 == 0);
      DDSketch plain = LossSketch.create();
      for (int interval = 0; interval < 3; interval++) {
        int batches = 1 + random.nextInt(20);
        for (int b = 0; b < batches; b++) {
          int n = random.nextInt(3000);
          long[] ids = new long[n];
          float[] losses = new float[n];
          for (int i = 0; i < n; i++) {
            ids[i] = random.nextInt(10_000);
            losses[i] = mixedLoss(random);
            acceptPlain(plain, losses[i]);
          }
          if (random.nextBoolean()) {
            tracker.offer(ids, losses, n, b);
          } else {
            for (int i = 0; i < n; i++) tracker.offer(ids[i], losses[i], b);
          }
          if (random.nextInt(4) == 0) { // a read mid-interval folds the histogram; later offers bin afresh
            double q = random.nextDouble();
            assertEquals(LossSketch.quantile(plain, q), tracker.lossQuantile(q), "seed " + seed + ", mid-interval");
          }
        }
        byte[] encoded = tracker.snapshot(RUN, interval).lossSketch();
        String where = "seed " + seed + ", interval " + interval;
        // Exact, not merely close: with LossSketch's mapping every histogram bin lies inside one DDSketch bucket
        // (binsNestInsideTheSketchBuckets). If the mapping changes so that this fails, the quantiles are still
        // within the combined bound that preAggregatedSketchQuantilesAreWithinTheCombinedBound checks.
        assertArrayEquals(LossSketch.encode(plain), encoded, where + ": encoded sketch");
        DDSketch decoded = LossSketch.decode(encoded);
        assertEquals(plain.getCount(), decoded.getCount(), where + ": count");
        for (double q : new double[] {0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1}) {
          assertEquals(LossSketch.quantile(plain, q), LossSketch.quantile(decoded, q), where + ", quantile " + q);
        }
        plain.clear();
      }
    }
  }

  @Test
  void preAggregatedSketchQuantilesAreWithinTheCombinedBound() {
    // The sketch's 1% on top of the histogram's at most 2^-11 (a bin's half-width relative to its values):
    // the estimate is within (1 + 1%) (1 + 2^-11) - 1 = 1.0494% of the exact quantile. This holds whatever the
    // mapping; with today's mapping the histogram adds nothing and the sketch's own 1% is what is seen.
    double combined = (1 + LossSketch.RELATIVE_ACCURACY) * (1 + 0x1p-11) - 1;
    for (long seed = 0; seed < 20; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      HardExampleTracker tracker = new HardExampleTracker(WORKER, 16, false);
      int n = 1 + random.nextInt(50_000);
      float[] losses = new float[n];
      long[] ids = new long[n];
      for (int i = 0; i < n; i++) {
        float loss = mixedLoss(random);
        if (Float.isNaN(loss) || Float.isInfinite(loss)) loss = 1.5f; // the exact model needs finite losses
        losses[i] = loss;
        ids[i] = i;
      }
      tracker.offer(ids, losses, n, 0);
      DDSketch sketch = LossSketch.decode(tracker.snapshot(RUN, 0).lossSketch());
      assertEquals(n, sketch.getCount());
      float[] sorted = losses.clone();
      Arrays.sort(sorted);
      for (double q : new double[] {0, 0.01, 0.05, 0.25, 0.5, 0.9, 0.95, 0.99, 1}) {
        double exact = sorted[(int) Math.floor(q * (n - 1))];
        double estimate = LossSketch.quantile(sketch, q);
        assertEquals(exact, estimate, Math.abs(exact) * combined * 1.0001, "seed " + seed + ", quantile " + q);
      }
    }
  }

  @Test
  void binsNestInsideTheSketchBuckets() {
    // Every histogram bin, from 2^-24 to 2^24: its lowest float, highest float and the midpoint it is folded in
    // as all index to the same DDSketch bucket, and the midpoint is within 2^-11 of every value in the bin.
    var mapping = LossSketch.create().getIndexMapping();
    int bins = 48 << (23 - HardExampleTracker.BIN_SHIFT);
    int firstBits = Float.floatToRawIntBits(0x1p-24f);
    for (int bin = 0; bin < bins; bin++) {
      float low = Float.intBitsToFloat(firstBits + (bin << HardExampleTracker.BIN_SHIFT));
      float high = Float.intBitsToFloat(firstBits + ((bin + 1) << HardExampleTracker.BIN_SHIFT) - 1);
      float mid = HardExampleTracker.binMidpoint(bin);
      assertTrue(low < mid && mid < high, "bin " + bin + ": midpoint " + mid + " outside [" + low + ", " + high + "]");
      assertEquals(mapping.index(low), mapping.index(mid), "bin " + bin + " low");
      assertEquals(mapping.index(high), mapping.index(mid), "bin " + bin + " high");
      assertTrue((mid - (double) low) / low <= 0x1p-11 && (high - (double) mid) / high <= 0x1p-11, "bin " + bin);
    }
    assertEquals(0x1p24f, Math.nextUp(Float.intBitsToFloat(firstBits + (bins << HardExampleTracker.BIN_SHIFT) - 1)));
  }

  @Test
  void batchOfferKeepsTheStatisticsOfSingleOffers() {
    SplittableRandom random = new SplittableRandom(3);
    HardExampleTracker batch = new HardExampleTracker(WORKER, 32, false);
    HardExampleTracker single = new HardExampleTracker(WORKER, 32, false);
    for (HardExampleTracker t : List.of(batch, single)) t.setThreshold(1.0);
    for (int step = 0; step < 50; step++) {
      int n = random.nextInt(500);
      long[] ids = new long[n];
      float[] losses = new float[n];
      for (int i = 0; i < n; i++) {
        ids[i] = random.nextInt(2000);
        losses[i] = mixedLoss(random);
      }
      batch.offer(ids, losses, n, step);
      for (int i = 0; i < n; i++) single.offer(ids[i], losses[i], step);
      assertEquals(single.samplesSeen(), batch.samplesSeen(), "step " + step);
      assertEquals(single.nonFiniteLosses(), batch.nonFiniteLosses(), "step " + step);
      assertEquals(single.aboveThreshold(), batch.aboveThreshold(), "step " + step);
      assertEquals(single.maxLoss(), batch.maxLoss(), "step " + step);
      assertEquals(single.rejectedOffers(), batch.rejectedOffers(), "step " + step);
      assertEquals(single.entries(), batch.entries(), "step " + step);
    }
    HardExampleSnapshot fromSingle = single.snapshot(RUN, 0);
    HardExampleSnapshot fromBatch = batch.snapshot(RUN, 0);
    assertEquals(fromSingle.entries(), fromBatch.entries());
    assertEquals(fromSingle.samplesSeen(), fromBatch.samplesSeen());
    assertEquals(fromSingle.aboveThreshold(), fromBatch.aboveThreshold());
    assertEquals(fromSingle.maxLoss(), fromBatch.maxLoss());
    assertArrayEquals(fromSingle.lossSketch(), fromBatch.lossSketch()); // a record compares arrays by reference
  }

  @Test
  void rejectsInvalidConstruction() {
    assertThrows(IllegalArgumentException.class, () -> new HardExampleTracker(WORKER, 0, false));
    assertThrows(IllegalArgumentException.class, () -> new HardExampleTracker("", 4, false));
  }

  @Test
  void rejectedOfferOnAFullBufferAllocatesNothing() {
    java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
    com.sun.management.ThreadMXBean threads = bean instanceof com.sun.management.ThreadMXBean measuring ? measuring : null;
    assumeTrue(threads != null && threads.isThreadAllocatedMemorySupported(),
        "this JVM cannot measure a thread's allocation (com.sun.management.ThreadMXBean.getThreadAllocatedBytes)");
    threads.setThreadAllocatedMemoryEnabled(true);
    int k = 1024;
    HardExampleTracker tracker = new HardExampleTracker(WORKER, k, false);
    for (int i = 0; i < k; i++) tracker.offer(i, 100f + i, 0);
    float[] losses = new float[4096];
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < losses.length; i++) losses[i] = (float) (random.nextDouble() * 99);
    // The first round compiles the path and lets the sketch's store grow to cover these losses; later rounds
    // measure the steady state (the minimum, so that a stray JIT or safepoint allocation does not count).
    allocatedByRejectedOffers(threads, tracker, k, losses, 200_000);
    long allocated = Long.MAX_VALUE;
    for (int round = 0; round < 3; round++) {
      allocated = Math.min(allocated, allocatedByRejectedOffers(threads, tracker, k, losses, 1_000_000));
    }
    assertTrue(allocated < 256, "1e6 rejected offers allocated " + allocated + " bytes");
  }

  @Test
  void batchOfferOfRejectedAndNonFiniteLossesAllocatesNothing() {
    java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
    if (!(bean instanceof com.sun.management.ThreadMXBean threads) || !threads.isThreadAllocatedMemorySupported()) {
      return; // not measurable on this JVM
    }
    threads.setThreadAllocatedMemoryEnabled(true);
    int k = 256;
    HardExampleTracker tracker = new HardExampleTracker(WORKER, k, false);
    for (int i = 0; i < k; i++) tracker.offer(i, 100f + i, 0);
    int batch = 512;
    long[] ids = new long[batch];
    float[] losses = new float[batch];
    SplittableRandom random = new SplittableRandom(2);
    for (int i = 0; i < batch; i++) {
      ids[i] = k + i;
      int kind = random.nextInt(8);
      losses[i] = kind == 0 ? Float.NaN
          : kind == 1 ? Float.POSITIVE_INFINITY
          : kind == 2 ? Float.NEGATIVE_INFINITY
          : (float) (random.nextDouble() * 99);
    }
    long thread = Thread.currentThread().getId();
    long allocated = Long.MAX_VALUE;
    for (int round = 0; round < 4; round++) { // the first round compiles the path and grows the sketch's store
      long before = threads.getThreadAllocatedBytes(thread);
      for (int i = 0; i < 2_000; i++) tracker.offer(ids, losses, batch, i);
      long used = threads.getThreadAllocatedBytes(thread) - before;
      if (round > 0) allocated = Math.min(allocated, used);
    }
    assertEquals(k, tracker.size(), "every offer was below the buffer's minimum or not finite");
    assertTrue(allocated < 256, "2000 batch offers of rejected and non-finite losses allocated " + allocated + " bytes");
  }

  private static long allocatedByRejectedOffers(
      com.sun.management.ThreadMXBean threads, HardExampleTracker tracker, int k, float[] losses, int offers) {
    long thread = Thread.currentThread().getId();
    long before = threads.getThreadAllocatedBytes(thread);
    int accepted = 0;
    for (int i = 0; i < offers; i++) {
      accepted += tracker.offer(k + i, losses[i & (losses.length - 1)], 1) ? 1 : 0;
    }
    long allocated = threads.getThreadAllocatedBytes(thread) - before;
    assertEquals(0, accepted, "every offer was below the buffer's minimum");
    return allocated;
  }
}
