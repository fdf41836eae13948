package io.quarry.coordinator.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.datadoghq.sketch.ddsketch.DDSketch;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.sketch.LossSketch;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class HardExampleMergerTest {
  private static final String RUN = "run-1";
  private static final Comparator<HardExample> HIGHEST_FIRST = HardExampleMerger.HIGHEST_FIRST;

  private static HardExampleSnapshot snapshot(String workerId, List<HardExample> entries, float... sketchLosses) {
    DDSketch sketch = LossSketch.create();
    float max = Float.NaN;
    for (float loss : sketchLosses) {
      sketch.accept(loss);
      max = Float.isNaN(max) ? loss : Math.max(max, loss);
    }
    List<HardExample> sorted = new ArrayList<>(entries);
    sorted.sort(HIGHEST_FIRST);
    return new HardExampleSnapshot(
        RUN, 0, workerId, sorted, sketchLosses.length, 0, max, LossSketch.encode(sketch));
  }

  private static String worker(int i) {
    return String.format("worker-%02d", i);
  }

  /** Random buffers over a shared, small id space (so ids repeat across workers) with tied losses. */
  private static List<HardExampleSnapshot> randomSnapshots(Random random, int workers, int maxEntries) {
    List<HardExampleSnapshot> snapshots = new ArrayList<>();
    int idSpace = 1 + random.nextInt(workers * maxEntries + 1);
    for (int w = 0; w < workers; w++) {
      Set<Long> ids = new HashSet<>();
      List<HardExample> entries = new ArrayList<>();
      int count = random.nextInt(maxEntries + 1);
      for (int i = 0; i < count; i++) {
        long id = random.nextInt(idSpace);
        if (!ids.add(id)) continue;
        float loss = random.nextBoolean() ? 1 + random.nextInt(8) * 0.5f : (float) (random.nextDouble() * 5);
        int label = random.nextInt(4) == 0 ? HardExample.UNKNOWN : random.nextInt(10);
        int predicted = random.nextInt(4) == 0 ? HardExample.UNKNOWN : random.nextInt(10);
        entries.add(new HardExample(id, loss, worker(w), random.nextInt(1000), label, predicted));
      }
      float[] losses = new float[random.nextInt(200)];
      for (int i = 0; i < losses.length; i++) losses[i] = (float) Math.exp(random.nextGaussian());
      snapshots.add(snapshot(worker(w), entries, losses));
    }
    Collections.shuffle(snapshots, random); // answers arrive in any order
    return snapshots;
  }

  private static List<HardExampleSnapshot> byWorker(List<HardExampleSnapshot> snapshots) {
    List<HardExampleSnapshot> sorted = new ArrayList<>(snapshots);
    sorted.sort(Comparator.comparing(HardExampleSnapshot::workerId));
    return sorted;
  }

  /** Round-robin the naive way: queues, a set, and one pass over the rotated workers per round. */
  private static List<HardExample> bruteForceRoundRobin(int mergeIndex, int k, List<HardExampleSnapshot> snapshots) {
    List<HardExampleSnapshot> order = byWorker(snapshots);
    if (!order.isEmpty()) Collections.rotate(order, -(mergeIndex % order.size()));
    List<ArrayDeque<HardExample>> queues = new ArrayList<>();
    for (HardExampleSnapshot s : order) queues.add(new ArrayDeque<>(s.entries()));
    Set<Long> taken = new HashSet<>();
    List<HardExample> result = new ArrayList<>();
    boolean progress = true;
    while (result.size() < k && progress) {
      progress = false;
      for (ArrayDeque<HardExample> queue : queues) {
        if (result.size() >= k) break;
        while (!queue.isEmpty()) {
          HardExample e = queue.poll();
          if (taken.add(e.sampleId())) {
            result.add(e);
            progress = true;
            break;
          }
        }
      }
    }
    result.sort(HIGHEST_FIRST);
    return result;
  }

  /** Top-K the naive way: every entry, the best per sample id, sorted, cut at K. */
  private static List<HardExample> bruteForceTopK(int k, List<HardExampleSnapshot> snapshots) {
    Map<Long, HardExample> best = new HashMap<>();
    for (HardExampleSnapshot s : snapshots) {
      for (HardExample e : s.entries()) {
        best.merge(e.sampleId(), e, (a, b) -> {
          if (a.loss() != b.loss()) return a.loss() > b.loss() ? a : b;
          return a.workerId().compareTo(b.workerId()) <= 0 ? a : b;
        });
      }
    }
    List<HardExample> all = new ArrayList<>(best.values());
    all.sort(HIGHEST_FIRST);
    return all.subList(0, Math.min(k, all.size()));
  }

  private static void assertWellFormed(MergeResult result, int k) {
    assertTrue(result.entries().size() <= k);
    Set<Long> ids = new HashSet<>();
    for (HardExample e : result.entries()) assertTrue(ids.add(e.sampleId()), "duplicate sample id " + e);
    List<HardExample> sorted = new ArrayList<>(result.entries());
    sorted.sort(HIGHEST_FIRST);
    assertEquals(sorted, result.entries());
    int total = result.takenPerWorker().values().stream().mapToInt(Integer::intValue).sum();
    assertEquals(result.entries().size(), total);
  }

  @Test
  void roundRobinMatchesTheNaiveRoundRobinOnRandomBuffers() {
    Random random = new Random(7);
    for (int trial = 0; trial < 500; trial++) {
      int workers = random.nextInt(12);
      int k = random.nextInt(60);
      int mergeIndex = random.nextInt(50);
      List<HardExampleSnapshot> snapshots = randomSnapshots(random, workers, 40);
      MergeResult result = HardExampleMerger.merge(mergeIndex, MergeMode.ROUND_ROBIN, k, 0.9, snapshots);
      assertEquals(bruteForceRoundRobin(mergeIndex, k, snapshots), result.entries(), "trial " + trial);
      assertWellFormed(result, k);
    }
  }

  @Test
  void topKMatchesTheExactGlobalTopKOnRandomBuffers() {
    Random random = new Random(11);
    for (int trial = 0; trial < 500; trial++) {
      int workers = random.nextInt(12);
      int k = random.nextInt(60);
      List<HardExampleSnapshot> snapshots = randomSnapshots(random, workers, 40);
      MergeResult result = HardExampleMerger.merge(trial, MergeMode.TOP_K, k, 0.9, snapshots);
      assertEquals(bruteForceTopK(k, snapshots), result.entries(), "trial " + trial);
      assertWellFormed(result, k);
    }
  }

  @Test
  void resultDoesNotDependOnTheOrderAnswersArrived() {
    Random random = new Random(3);
    List<HardExampleSnapshot> snapshots = randomSnapshots(random, 9, 30);
    for (MergeMode mode : MergeMode.values()) {
      MergeResult first = HardExampleMerger.merge(4, mode, 25, 0.5, snapshots);
      List<HardExampleSnapshot> shuffled = new ArrayList<>(snapshots);
      Collections.shuffle(shuffled, random);
      assertEquals(first, HardExampleMerger.merge(4, mode, 25, 0.5, shuffled), mode.toString());
    }
  }

  /** Every worker has at least K entries, disjoint ids, and the highest losses all on worker 0. */
  private static List<HardExampleSnapshot> fullDisjointBuffers(int workers, int k) {
    List<HardExampleSnapshot> snapshots = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      List<HardExample> entries = new ArrayList<>();
      for (int i = 0; i < k + 3; i++) {
        entries.add(new HardExample(w * 10_000L + i, (w == 0 ? 100f : 1f) + i, worker(w), i));
      }
      snapshots.add(snapshot(worker(w), entries));
    }
    return snapshots;
  }

  @Test
  void roundRobinGivesEveryWorkerAnEqualShareWithinOne() {
    for (int workers = 1; workers <= 9; workers++) {
      for (int k = 0; k <= 30; k++) {
        MergeResult result =
            HardExampleMerger.merge(k, MergeMode.ROUND_ROBIN, k, 0.9, fullDisjointBuffers(workers, k));
        int min = Collections.min(result.takenPerWorker().values());
        int max = Collections.max(result.takenPerWorker().values());
        assertTrue(max - min <= 1, workers + " workers, k " + k + ": " + result.takenPerWorker());
        assertEquals(k, result.entries().size());
      }
    }
  }

  @Test
  void roundRobinRotatesWhichWorkerGetsTheExtraEntry() {
    List<HardExampleSnapshot> snapshots = fullDisjointBuffers(4, 5);
    for (int merge = 0; merge < 8; merge++) {
      MergeResult result = HardExampleMerger.merge(merge, MergeMode.ROUND_ROBIN, 5, 0.9, snapshots);
      String favoured = worker(merge % 4);
      assertEquals(favoured, result.workers().get(0), "merge " + merge);
      for (Map.Entry<String, Integer> share : result.takenPerWorker().entrySet()) {
        assertEquals(share.getKey().equals(favoured) ? 2 : 1, share.getValue(), "merge " + merge + ": " + share);
      }
    }
  }

  @Test
  void topKTakesTheGlobalHighestEvenWhenOneWorkerHoldsThemAll() {
    MergeResult result = HardExampleMerger.merge(0, MergeMode.TOP_K, 5, 0.9, fullDisjointBuffers(4, 5));
    assertEquals(Map.of(worker(0), 5, worker(1), 0, worker(2), 0, worker(3), 0), result.takenPerWorker());
  }

  @Test
  void mergedEntriesCarryTheirWorkersLabelAndPrediction() {
    Random random = new Random(11);
    for (int trial = 0; trial < 100; trial++) {
      List<HardExampleSnapshot> snapshots = randomSnapshots(random, 1 + random.nextInt(8), 40);
      Map<String, Map<Long, HardExample>> byWorkerAndId = new HashMap<>();
      for (HardExampleSnapshot snapshot : snapshots) {
        Map<Long, HardExample> ids = byWorkerAndId.computeIfAbsent(snapshot.workerId(), w -> new HashMap<>());
        for (HardExample entry : snapshot.entries()) ids.put(entry.sampleId(), entry);
      }
      for (MergeMode mode : MergeMode.values()) {
        for (HardExample merged : HardExampleMerger.merge(trial, mode, 30, 0.9, snapshots).entries()) {
          HardExample given = byWorkerAndId.get(merged.workerId()).get(merged.sampleId());
          assertEquals(given, merged, "trial " + trial + ", " + mode + ": the entry as its worker gave it");
          assertEquals(given.label(), merged.label());
          assertEquals(given.predicted(), merged.predicted());
        }
      }
    }
  }

  @Test
  void sampleSeenByTwoWorkersIsTakenOnceWithItsHighestLoss() {
    List<HardExampleSnapshot> snapshots = List.of(
        snapshot("b", List.of(new HardExample(1, 5f, "b", 3), new HardExample(2, 4f, "b", 3))),
        snapshot("a", List.of(new HardExample(1, 9f, "a", 7), new HardExample(3, 1f, "a", 7))),
        snapshot("c", List.of(new HardExample(2, 4f, "c", 8))));
    MergeResult topK = HardExampleMerger.merge(0, MergeMode.TOP_K, 10, 0.9, snapshots);
    assertEquals(
        List.of(new HardExample(1, 9f, "a", 7), new HardExample(2, 4f, "b", 3), new HardExample(3, 1f, "a", 7)),
        topK.entries());
    MergeResult roundRobin = HardExampleMerger.merge(0, MergeMode.ROUND_ROBIN, 10, 0.9, snapshots);
    assertEquals(List.of(1L, 2L, 3L), roundRobin.entries().stream().map(HardExample::sampleId).toList());
  }

  @Test
  void thresholdIsTheQuantileOfEveryWorkersLossesTogether() {
    Random random = new Random(5);
    for (int trial = 0; trial < 20; trial++) {
      int workers = 1 + random.nextInt(16);
      List<HardExampleSnapshot> snapshots = new ArrayList<>();
      List<Float> all = new ArrayList<>();
      for (int w = 0; w < workers; w++) {
        // Workers see different loss ranges, so one worker's quantile would be far off the cluster's.
        float[] losses = new float[1 + random.nextInt(3000)];
        for (int i = 0; i < losses.length; i++) {
          losses[i] = (float) Math.exp(random.nextGaussian() + w * 0.3);
          all.add(losses[i]);
        }
        snapshots.add(snapshot(worker(w), List.of(), losses));
      }
      float[] sorted = new float[all.size()];
      for (int i = 0; i < sorted.length; i++) sorted[i] = all.get(i);
      Arrays.sort(sorted);
      for (double q : new double[] {0, 0.5, 0.9, 0.99, 1}) {
        double exact = sorted[(int) Math.floor(q * (sorted.length - 1))];
        for (MergeMode mode : MergeMode.values()) {
          double threshold = HardExampleMerger.merge(0, mode, 8, q, snapshots).threshold();
          assertEquals(exact, threshold, exact * LossSketch.RELATIVE_ACCURACY * 1.0001, "trial " + trial + " q " + q);
        }
      }
    }
  }

  @Test
  void mergingNoAnswersGivesAnEmptyBufferAndNoThreshold() {
    for (MergeMode mode : MergeMode.values()) {
      MergeResult result = HardExampleMerger.merge(3, mode, 16, 0.9, List.of());
      assertTrue(result.entries().isEmpty());
      assertTrue(Double.isNaN(result.threshold()));
      assertTrue(result.workers().isEmpty());
      assertEquals(0, result.samplesSeen());
      assertTrue(Float.isNaN(result.maxLoss()));
    }
  }

  @Test
  void workersWithEmptyBuffersAreStillListedAsAnswered() {
    List<HardExampleSnapshot> snapshots = List.of(snapshot("b", List.of()), snapshot("a", List.of()));
    MergeResult result = HardExampleMerger.merge(1, MergeMode.ROUND_ROBIN, 16, 0.9, snapshots);
    assertTrue(result.entries().isEmpty());
    assertTrue(Double.isNaN(result.threshold()));
    assertEquals(List.of("b", "a"), result.workers()); // merge 1 starts at the second worker
    assertEquals(List.of("a", "b"), HardExampleMerger.merge(1, MergeMode.TOP_K, 16, 0.9, snapshots).workers());
  }

  @Test
  void statisticsAddUpOverTheAnsweringWorkers() {
    List<HardExampleSnapshot> snapshots = List.of(
        snapshot("a", List.of(), 1f, 2f, 3f), snapshot("b", List.of(), 7f), snapshot("c", List.of()));
    MergeResult result = HardExampleMerger.merge(0, MergeMode.TOP_K, 4, 0.5, snapshots);
    assertEquals(4, result.samplesSeen());
    assertEquals(7f, result.maxLoss());
  }

  @Test
  void mergeModeIsReadFromItsConfigName() {
    assertEquals(MergeMode.ROUND_ROBIN, MergeMode.fromConfig("round-robin"));
    assertEquals(MergeMode.TOP_K, MergeMode.fromConfig("top-k"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MergeMode.fromConfig("topk"));
    assertTrue(e.getMessage().contains("hard-examples.merge-mode") && e.getMessage().contains("\"topk\""));
  }

  @Test
  void rejectsAThresholdQuantileOutsideZeroToOne() {
    assertThrows(IllegalArgumentException.class,
        () -> HardExampleMerger.merge(0, MergeMode.TOP_K, 4, 1.5, List.of()));
    assertThrows(IllegalArgumentException.class,
        () -> HardExampleMerger.merge(0, MergeMode.TOP_K, 4, Double.NaN, List.of()));
  }
}
