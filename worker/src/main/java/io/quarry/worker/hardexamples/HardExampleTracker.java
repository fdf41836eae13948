package io.quarry.worker.hardexamples;

import com.datadoghq.sketch.ddsketch.DDSketch;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.sketch.LossSketch;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.agrona.collections.Long2LongHashMap;

/**
 * One worker's hard-example buffer for one run: the K highest-loss samples of the current window, one entry per
 * sample id, plus the interval statistics and loss sketch that the coordinator merges into the cluster threshold.
 *
 * <p>Offers run once per sample of every training step, so they never throw and, once the sketch's store spans
 * the losses seen, allocate nothing. The loss sketch is not updated per sample: a DDSketch {@code accept} (about
 * 5 ns) cost more than the rest of the offer together, so losses are counted into a presized histogram keyed by
 * their float bits (see {@link #BIN_SHIFT}) and folded into the sketch only when it is read (a snapshot or
 * {@link #lossQuantile}). Once the buffer is full, a loss at or below its minimum is turned away after
 * one comparison, without even looking the sample id up: a sample already in the buffer holds a loss at least
 * that high, so a lower one could not replace it anyway. The buffer is a min-heap laid out in parallel primitive
 * arrays (id, loss, step, label, prediction), and a presized primitive map from sample id to heap slot keeps deduplication free of boxing.
 *
 * <p>Not thread-safe: the trainer offers from its thread and the worker actor takes snapshots from another, so
 * the worker holds one lock around every call.
 */
public final class HardExampleTracker implements HardExampleSink {
  private static final long NO_SLOT = -1L;
  /** Low enough that a presized map never rehashes, which would allocate on the hot path. */
  private static final float SLOT_MAP_LOAD_FACTOR = 0.5f;
  private static final Comparator<HardExample> HIGHEST_FIRST = (a, b) -> {
    int byLoss = Float.compare(b.loss(), a.loss());
    return byLoss != 0 ? byLoss : Long.compare(a.sampleId(), b.sampleId());
  };

  /*
   * The pre-aggregation histogram in front of the sketch. A positive float's raw bits order like its value, and
   * the top bits are the exponent and the leading mantissa bits, so (bits >>> BIN_SHIFT) is a log-linear bin
   * index computed with one shift: keeping 23 - 13 = 10 mantissa bits makes every bin at most 2^-10 (0.098%)
   * of its values wide. Folding a bin in as count x its midpoint therefore moves a value by at most 0.049%.
   * With LossSketch's current mapping (BitwiseLinearlyInterpolatedMapping at 1%, which indexes by the exponent
   * and the top 6 mantissa bits of the double) every bin lies inside one DDSketch bucket, so the fold is exact:
   * the sketch comes out identical to one fed every loss (the tests check this). The 0.049% bound is what holds
   * should the mapping change.
   *
   * Only losses in [2^-24, 2^24) are binned (48 binades x 1024 bins, 192 KB of int counts, allocated once);
   * zero, negative, subnormal and other out-of-window finite losses go to the sketch directly. Non-finite losses
   * (NaN, infinities) never get this far: they are counted and dropped.
   */
  static final int BIN_SHIFT = 13;
  private static final int MIN_BINNED_EXPONENT = -24;
  private static final int MAX_BINNED_EXPONENT = 24; // exclusive
  /** The histogram's first bin: that of 2^MIN_BINNED_EXPONENT. */
  private static final int FIRST_BIN = (MIN_BINNED_EXPONENT + 127) << (23 - BIN_SHIFT);
  private static final int BINS = (MAX_BINNED_EXPONENT - MIN_BINNED_EXPONENT) << (23 - BIN_SHIFT);

  private final String workerId;
  private final int k;
  private final boolean runWindow;

  // The min-heap: slot 0 holds the lowest loss in the buffer, the first one to give way.
  private final long[] heapIds;
  private final float[] heapLosses;
  private final long[] heapSteps;
  /** The label and predicted class of each slot, {@link HardExample#UNKNOWN} when the trainer gave none. */
  private final int[] heapLabels;
  private final int[] heapPredicted;
  /** The labels and predictions of the batch being offered, set for the length of the batch offer's loop. */
  private int[] batchLabels;
  private int[] batchPredicted;
  private final Long2LongHashMap slotById;
  private int size;
  /** The loss a sample must beat: the heap's minimum once full; NaN before, which rejects nothing. */
  private float admissionFloor = Float.NaN;

  private double threshold = Double.NaN;
  private final DDSketch sketch = LossSketch.create();
  /** Counts per bin not yet folded into {@link #sketch}; bin b holds the losses with bits >>> BIN_SHIFT == FIRST_BIN + b. */
  private final int[] binCounts = new int[BINS];
  /** Losses binned since the last fold: it folds before this could pass Integer.MAX_VALUE, so no bin overflows. */
  private long binnedSinceFold;
  private long samplesSeen;
  private long aboveThreshold;
  private float maxLoss = Float.NaN;
  private long nonFiniteLosses;
  // Rejections are derived (offered - admitted) rather than counted, to spare the hot path a store per sample.
  private long offeredBeforeInterval;
  private long admitted;

  /**
   * @param workerId the worker named on every entry and snapshot
   * @param k the buffer's capacity, at least 1
   * @param runWindow {@code true} keeps the highest losses of the whole run; {@code false} starts the buffer
   *     afresh after every snapshot (the {@code interval} window)
   */
  public HardExampleTracker(String workerId, int k, boolean runWindow) {
    if (workerId == null || workerId.isEmpty()) {
      throw new IllegalArgumentException(
          "workerId must be a non-empty string, got " + (workerId == null ? "null" : "\"\""));
    }
    if (k < 1) {
      throw new IllegalArgumentException("hard-examples.k must be at least 1, got " + k);
    }
    this.workerId = workerId;
    this.k = k;
    this.runWindow = runWindow;
    this.heapIds = new long[k];
    this.heapLosses = new float[k];
    this.heapSteps = new long[k];
    this.heapLabels = new int[k];
    this.heapPredicted = new int[k];
    // Agrona rounds the capacity up to a power of two and rehashes once size exceeds capacity * loadFactor;
    // 2k slots at load factor 0.5 hold k ids without ever rehashing.
    this.slotById = new Long2LongHashMap(Math.max(8, 2 * k), SLOT_MAP_LOAD_FACTOR, NO_SLOT);
  }

  /**
   * The trainer's path, once per step. The per-sample fast path of {@link #offer(long, float, long)} is repeated
   * here on purpose: that method, once compiled with its slow path inlined (as it is while the buffer fills),
   * can be too big for the JIT to inline into a caller's loop (one JMH run: 77 against 134 samples per
   * microsecond); this loop does not depend on that decision. The statistics live in locals for the loop and are
   * stored once at the end, so that the loop body is loads, compares and one histogram increment; admit() does
   * not read them. Labels and predictions are read only for the samples admitted (a few percent once the buffer is
   * full), and through fields rather than the parameters: with the two arrays live across the loop, the labelled
   * path's JMH throughput varied between 174 and 341 samples per microsecond against 336 to 376 this way, in one
   * session (bench/RESULTS-tracker.md); the fields are loaded on the rare path only.
   */
  @Override
  public void offer(long[] sampleIds, float[] losses, int[] labels, int[] predicted, int count, long step) {
    if (count <= 0) {
      return;
    }
    if (binnedSinceFold > Integer.MAX_VALUE - (long) count) {
      foldBins(); // a bin could otherwise overflow its int; in practice merges fold long before this
    }
    binnedSinceFold += count;
    final int[] bins = binCounts;
    final double threshold = this.threshold;
    float floor = admissionFloor;
    float max = maxLoss;
    long above = 0;
    int nonFinite = 0;
    batchLabels = labels;
    batchPredicted = predicted;
    for (int i = 0; i < count; i++) {
      float loss = losses[i];
      if (!Float.isFinite(loss)) { // one compare of |loss|; NaN fails it too
        nonFinite++;
        continue;
      }
      if (loss > threshold) { // false while the threshold is NaN, i.e. before the first merge
        above++;
      }
      if (!(loss <= max)) { // also true while max is still NaN
        max = loss;
      }
      int bin = (Float.floatToRawIntBits(loss) >>> BIN_SHIFT) - FIRST_BIN;
      if (bin >= 0 && bin < bins.length) { // a negative loss's bits shift to far above the window
        bins[bin]++;
      } else {
        sketchDirectly(loss);
      }
      if (!(loss <= floor)) {
        admit(sampleIds[i], loss, step, batchLabel(i), batchPrediction(i));
        floor = admissionFloor;
      }
    }
    batchLabels = null; // the trainer's arrays are not ours to keep
    batchPredicted = null;
    samplesSeen += count - nonFinite;
    nonFiniteLosses += nonFinite;
    aboveThreshold += above;
    maxLoss = max;
  }

  private int batchLabel(int i) {
    int[] labels = batchLabels;
    return labels == null ? HardExample.UNKNOWN : labels[i];
  }

  private int batchPrediction(int i) {
    int[] predicted = batchPredicted;
    return predicted == null ? HardExample.UNKNOWN : predicted[i];
  }

  /**
   * Offers one sample's loss.
   *
   * @return {@code true} when the buffer took it (a new entry, or a higher loss for a sample already there);
   *     {@code false} when it was turned away (too low, not higher than the sample's own entry, or not finite)
   */
  public boolean offer(long sampleId, float loss, long step) {
    return offer(sampleId, loss, HardExample.UNKNOWN, HardExample.UNKNOWN, step);
  }

  /**
   * Offers one sample's loss with its label and the class the model predicted ({@link HardExample#UNKNOWN} for
   * either when not known). A sample already in the buffer whose loss rises takes the new prediction too.
   *
   * @return as {@link #offer(long, float, long)}
   */
  public boolean offer(long sampleId, float loss, int label, int predicted, long step) {
    if (!Float.isFinite(loss)) { // NaN or infinite: a broken loss is counted, never ranked, kept out of the statistics
      nonFiniteLosses++;
      return false;
    }
    recordStatistics(loss);
    if (loss <= admissionFloor) { // false while the buffer has room: the floor is NaN then
      return false;
    }
    return admit(sampleId, loss, step, label, predicted);
  }

  /** The rare path: a loss above the floor, or any loss while the buffer has room. */
  private boolean admit(long sampleId, float loss, long step, int label, int predicted) {
    long slot = slotById.get(sampleId);
    if (slot != NO_SLOT) {
      return raise((int) slot, loss, step, label, predicted);
    }
    if (size < k) {
      int added = size++;
      place(added, sampleId, loss, step, label, predicted);
      siftUp(added);
    } else {
      slotById.remove(heapIds[0]);
      place(0, sampleId, loss, step, label, predicted);
      siftDown(0);
    }
    admitted++;
    admissionFloor = size == k ? heapLosses[0] : Float.NaN;
    return true;
  }

  private void recordStatistics(float loss) {
    samplesSeen++;
    if (loss > threshold) { // false while the threshold is NaN, i.e. before the first merge
      aboveThreshold++;
    }
    if (!(loss <= maxLoss)) { // also true while maxLoss is still NaN
      maxLoss = loss;
    }
    if (++binnedSinceFold == Integer.MAX_VALUE) {
      foldBins();
    }
    int bin = (Float.floatToRawIntBits(loss) >>> BIN_SHIFT) - FIRST_BIN;
    if (bin >= 0 && bin < binCounts.length) {
      binCounts[bin]++;
    } else {
      sketchDirectly(loss);
    }
  }

  /** A finite loss outside the histogram's window: zero, negative, subnormal, or beyond 2^-24 .. 2^24. */
  private void sketchDirectly(float loss) {
    sketch.accept(loss);
  }

  /**
   * Folds the histogram into the sketch, each non-empty bin as its count at the bin's midpoint, and empties it.
   * Runs before every read of the sketch. Scans the bins up to that of the interval's highest loss (the bins
   * are emptied at every fold, and none above maxLoss's can have been touched since), a few tens of
   * microseconds at most: tracking the lowest and highest touched bin instead would cost every sample two more
   * compares, far more over an interval than this scan.
   */
  private void foldBins() {
    int[] bins = binCounts;
    int end = bins.length;
    int maxBin = (Float.floatToRawIntBits(maxLoss) >>> BIN_SHIFT) - FIRST_BIN;
    if (maxBin >= 0 && maxBin < end) { // maxLoss is NaN (bits above the window), negative or beyond: scan all
      end = maxBin + 1;
    }
    for (int bin = 0; bin < end; bin++) {
      int count = bins[bin];
      if (count != 0) {
        sketch.accept(binMidpoint(bin), count);
        bins[bin] = 0;
      }
    }
    binnedSinceFold = 0;
  }

  /** The float halfway through bin {@code bin}'s range of bit patterns, which within one binade is its midpoint. */
  static float binMidpoint(int bin) {
    return Float.intBitsToFloat(((bin + FIRST_BIN) << BIN_SHIFT) | (1 << (BIN_SHIFT - 1)));
  }

  /** The entry keeps the step and the prediction of its highest loss; a label once known stays known. */
  private boolean raise(int slot, float loss, long step, int label, int predicted) {
    if (loss <= heapLosses[slot]) {
      return false;
    }
    heapLosses[slot] = loss;
    heapSteps[slot] = step;
    if (label >= 0) {
      heapLabels[slot] = label;
    }
    heapPredicted[slot] = predicted < 0 ? HardExample.UNKNOWN : predicted;
    siftDown(slot); // a min-heap entry whose loss went up can only move towards the leaves
    admitted++;
    admissionFloor = size == k ? heapLosses[0] : Float.NaN;
    return true;
  }

  /** Sets the cluster-wide threshold that {@code aboveThreshold} counts against; {@code NaN} counts nothing. */
  public void setThreshold(double threshold) {
    this.threshold = threshold;
  }

  /**
   * Answers one merge: the buffer highest loss first (equal losses by sample id) with the interval's statistics,
   * after which the interval starts afresh; the {@code interval} window empties the buffer too.
   *
   * <p>Allocates: it runs once per merge, off the hot path.
   *
   * @param runId the run this tracker belongs to (the snapshot names it; the tracker itself does not need it)
   * @param merge the merge this answers
   */
  public HardExampleSnapshot snapshot(String runId, int merge) {
    foldBins();
    HardExampleSnapshot snapshot = new HardExampleSnapshot(
        runId, merge, workerId, entries(), samplesSeen, aboveThreshold, maxLoss, LossSketch.encode(sketch));
    startInterval();
    if (!runWindow) {
      clearBuffer();
    }
    return snapshot;
  }

  /** The buffer, highest loss first, equal losses by ascending sample id. */
  public List<HardExample> entries() {
    List<HardExample> entries = new ArrayList<>(size);
    for (int slot = 0; slot < size; slot++) {
      entries.add(new HardExample(
          heapIds[slot], heapLosses[slot], workerId, heapSteps[slot], heapLabels[slot], heapPredicted[slot]));
    }
    entries.sort(HIGHEST_FIRST);
    return entries;
  }

  /** After {@link #snapshot}'s fold, so the histogram is empty when the sketch is cleared. */
  private void startInterval() {
    offeredBeforeInterval += samplesSeen;
    sketch.clear(); // keeps the store's arrays, so the hot path does not grow them again after every merge
    samplesSeen = 0;
    aboveThreshold = 0;
    maxLoss = Float.NaN;
  }

  private void clearBuffer() {
    slotById.clear();
    size = 0;
    admissionFloor = Float.NaN;
  }

  /** Entries in the buffer. */
  public int size() {
    return size;
  }

  /** The capacity K. */
  public int capacity() {
    return k;
  }

  /** The lowest loss in the buffer, the one a new sample must beat once it is full; {@code NaN} when empty. */
  public float minLoss() {
    return size == 0 ? Float.NaN : heapLosses[0];
  }

  /** Finite losses offered since the last snapshot. */
  public long samplesSeen() {
    return samplesSeen;
  }

  /** Losses since the last snapshot above the threshold of {@link #setThreshold}. */
  public long aboveThreshold() {
    return aboveThreshold;
  }

  /** The highest loss since the last snapshot; {@code NaN} if none. */
  public float maxLoss() {
    return maxLoss;
  }

  /** The current threshold; {@code NaN} until the first merge sets one. */
  public double threshold() {
    return threshold;
  }

  /**
   * Non-finite losses (NaN, positive or negative infinity) offered over the tracker's life: counted, never ranked,
   * and kept out of the statistics and the sketch. A trainer emitting them is broken; this shows how often.
   */
  public long nonFiniteLosses() {
    return nonFiniteLosses;
  }

  /** Offers turned away over the tracker's life (non-finite losses excluded): the buffer's pressure. */
  public long rejectedOffers() {
    return offeredBeforeInterval + samplesSeen - admitted;
  }

  /** The interval's quantile of every loss offered since the last snapshot; {@code NaN} if none. */
  public double lossQuantile(double quantile) {
    foldBins();
    return LossSketch.quantile(sketch, quantile);
  }

  private void place(int slot, long sampleId, float loss, long step, int label, int predicted) {
    heapIds[slot] = sampleId;
    heapLosses[slot] = loss;
    heapSteps[slot] = step;
    heapLabels[slot] = label < 0 ? HardExample.UNKNOWN : label;
    heapPredicted[slot] = predicted < 0 ? HardExample.UNKNOWN : predicted;
    slotById.put(sampleId, slot);
  }

  /**
   * Heap order is by loss, then by sample id descending, so the root is the entry that {@code entries()} lists
   * last. Ties only decide which of equal losses gives way first; any consistent rule keeps the heap valid.
   */
  private boolean lower(int a, int b) {
    float lossA = heapLosses[a];
    float lossB = heapLosses[b];
    return lossA < lossB || (lossA == lossB && heapIds[a] > heapIds[b]);
  }

  private void siftUp(int slot) {
    while (slot > 0) {
      int parent = (slot - 1) >>> 1;
      if (!lower(slot, parent)) {
        return;
      }
      swap(slot, parent);
      slot = parent;
    }
  }

  private void siftDown(int slot) {
    while (true) {
      int left = 2 * slot + 1;
      if (left >= size) {
        return;
      }
      int right = left + 1;
      int child = right < size && lower(right, left) ? right : left;
      if (!lower(child, slot)) {
        return;
      }
      swap(slot, child);
      slot = child;
    }
  }

  private void swap(int a, int b) {
    long idA = heapIds[a];
    float lossA = heapLosses[a];
    long stepA = heapSteps[a];
    int labelA = heapLabels[a];
    int predictedA = heapPredicted[a];
    heapIds[a] = heapIds[b];
    heapLosses[a] = heapLosses[b];
    heapSteps[a] = heapSteps[b];
    heapLabels[a] = heapLabels[b];
    heapPredicted[a] = heapPredicted[b];
    heapIds[b] = idA;
    heapLosses[b] = lossA;
    heapSteps[b] = stepA;
    heapLabels[b] = labelA;
    heapPredicted[b] = predictedA;
    slotById.put(heapIds[a], a);
    slotById.put(idA, b);
  }
}
