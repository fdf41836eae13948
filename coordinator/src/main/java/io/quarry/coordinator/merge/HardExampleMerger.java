package io.quarry.coordinator.merge;

import com.datadoghq.sketch.ddsketch.DDSketch;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.sketch.LossSketch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.agrona.collections.LongHashSet;

/**
 * Folds the workers' hard-example snapshots of one all-gather into the cluster's buffer and threshold.
 *
 * <p>Pure and deterministic: the same snapshots in any order give the same result, so a restarted coordinator
 * repeating a merge agrees with itself. It relies on what every snapshot promises: entries highest loss first,
 * equal losses by ascending sample id, unique sample ids. Both modes then read only the head of each buffer
 * (about K entries, not workers x K); most of a merge is folding the workers' loss sketches (see
 * {@code MergeBenchmark}: 256 full buffers of 1024 take about half a millisecond).
 */
public final class HardExampleMerger {
  /** Highest loss first, equal losses by ascending sample id: the order of every buffer in the protocol. */
  public static final Comparator<HardExample> HIGHEST_FIRST = (a, b) -> {
    int byLoss = Float.compare(b.loss(), a.loss());
    return byLoss != 0 ? byLoss : Long.compare(a.sampleId(), b.sampleId());
  };

  private static final Comparator<HardExampleSnapshot> BY_WORKER =
      Comparator.comparing(HardExampleSnapshot::workerId);

  private HardExampleMerger() {}

  /**
   * Merges one all-gather.
   *
   * @param mergeIndex the merge, numbered from 0; round-robin starts its worker order there
   * @param mode how to pick the entries
   * @param k the merged buffer's capacity
   * @param thresholdQuantile the quantile of all losses that becomes the threshold, in [0, 1]
   * @param snapshots the answers that arrived, one per worker, in any order
   */
  public static MergeResult merge(
      int mergeIndex, MergeMode mode, int k, double thresholdQuantile, List<HardExampleSnapshot> snapshots) {
    if (k < 0) {
      throw new IllegalArgumentException("hard-examples.k must not be negative, got " + k);
    }
    if (!(thresholdQuantile >= 0 && thresholdQuantile <= 1)) {
      throw new IllegalArgumentException(
          "hard-examples.threshold-quantile must lie in [0, 1], got " + thresholdQuantile);
    }
    HardExampleSnapshot[] workers = snapshots.toArray(new HardExampleSnapshot[0]);
    Arrays.sort(workers, BY_WORKER);
    if (mode == MergeMode.ROUND_ROBIN && workers.length > 0) {
      rotateLeft(workers, Math.floorMod(mergeIndex, workers.length));
    }
    int[] taken = new int[workers.length];
    List<HardExample> entries =
        mode == MergeMode.ROUND_ROBIN ? roundRobin(workers, k, taken) : topK(workers, k, taken);
    entries.sort(HIGHEST_FIRST);

    List<byte[]> sketches = new ArrayList<>(workers.length);
    List<String> workerIds = new ArrayList<>(workers.length);
    Map<String, Integer> takenPerWorker = new LinkedHashMap<>();
    long samplesSeen = 0;
    long aboveThreshold = 0;
    float maxLoss = Float.NaN;
    for (int w = 0; w < workers.length; w++) {
      HardExampleSnapshot snapshot = workers[w];
      sketches.add(snapshot.lossSketch());
      workerIds.add(snapshot.workerId());
      takenPerWorker.merge(snapshot.workerId(), taken[w], Integer::sum);
      samplesSeen += snapshot.samplesSeen();
      aboveThreshold += snapshot.aboveThreshold();
      if (snapshot.maxLoss() > maxLoss || Float.isNaN(maxLoss)) {
        maxLoss = snapshot.maxLoss();
      }
    }
    DDSketch merged = LossSketch.mergeEncoded(sketches);
    double threshold = LossSketch.quantile(merged, thresholdQuantile);
    return new MergeResult(
        mergeIndex, mode, entries, threshold, workerIds, takenPerWorker, samplesSeen, aboveThreshold, maxLoss);
  }

  private static void rotateLeft(HardExampleSnapshot[] workers, int first) {
    HardExampleSnapshot[] rotated = new HardExampleSnapshot[workers.length];
    for (int i = 0; i < workers.length; i++) {
      rotated[i] = workers[(first + i) % workers.length];
    }
    System.arraycopy(rotated, 0, workers, 0, workers.length);
  }

  /** Each worker in turn gives its highest entry not yet taken, until K are taken or every buffer is spent. */
  private static List<HardExample> roundRobin(HardExampleSnapshot[] workers, int k, int[] taken) {
    List<HardExample> entries = new ArrayList<>(k);
    LongHashSet takenIds = new LongHashSet(Math.max(8, 2 * k));
    int[] cursor = new int[workers.length];
    int live = workers.length;
    while (entries.size() < k && live > 0) {
      for (int w = 0; w < workers.length && entries.size() < k; w++) {
        List<HardExample> buffer = workers[w].entries();
        int next = cursor[w];
        if (next < 0) {
          continue; // spent
        }
        while (next < buffer.size() && !takenIds.add(buffer.get(next).sampleId())) {
          next++; // another worker already gave this sample
        }
        if (next == buffer.size()) {
          cursor[w] = -1;
          live--;
          continue;
        }
        entries.add(buffer.get(next));
        taken[w]++;
        cursor[w] = next + 1;
      }
    }
    return entries;
  }

  /**
   * A K-way merge of the buffers, which are each sorted already: entries come out in global order, so the first
   * occurrence of a sample id is its highest loss (from the lowest worker id on a tie) and the first K distinct
   * ids are the exact top K, after reading about K entries rather than all of them.
   */
  private static List<HardExample> topK(HardExampleSnapshot[] workers, int k, int[] taken) {
    List<HardExample> entries = new ArrayList<>(k);
    if (k == 0) {
      return entries;
    }
    LongHashSet takenIds = new LongHashSet(Math.max(8, 2 * k));
    HeadHeap heads = new HeadHeap(workers);
    while (entries.size() < k && !heads.isEmpty()) {
      int w = heads.top();
      HardExample entry = heads.topEntry();
      if (takenIds.add(entry.sampleId())) {
        entries.add(entry);
        taken[w]++;
      }
      heads.advanceTop();
    }
    return entries;
  }

  /**
   * A binary heap of the workers by the entry at each one's cursor, the next in global order on top. The head's
   * loss and id are copied into primitive arrays so that sifting compares without touching the entry objects.
   */
  private static final class HeadHeap {
    private final HardExampleSnapshot[] workers;
    private final int[] cursor;
    private final float[] headLoss;
    private final long[] headId;
    private final int[] heap;
    private int size;

    HeadHeap(HardExampleSnapshot[] workers) {
      this.workers = workers;
      this.cursor = new int[workers.length];
      this.headLoss = new float[workers.length];
      this.headId = new long[workers.length];
      this.heap = new int[workers.length];
      for (int w = 0; w < workers.length; w++) {
        if (!workers[w].entries().isEmpty()) {
          loadHead(w);
          heap[size++] = w;
        }
      }
      for (int i = size / 2 - 1; i >= 0; i--) {
        siftDown(i);
      }
    }

    boolean isEmpty() {
      return size == 0;
    }

    int top() {
      return heap[0];
    }

    HardExample topEntry() {
      int w = heap[0];
      return workers[w].entries().get(cursor[w]);
    }

    void advanceTop() {
      int w = heap[0];
      if (++cursor[w] < workers[w].entries().size()) {
        loadHead(w);
      } else {
        heap[0] = heap[--size];
      }
      siftDown(0);
    }

    private void loadHead(int w) {
      HardExample head = workers[w].entries().get(cursor[w]);
      headLoss[w] = head.loss();
      headId[w] = head.sampleId();
    }

    /** Whether worker a's head comes before worker b's: higher loss, then lower sample id, then lower worker. */
    private boolean before(int a, int b) {
      int byLoss = Float.compare(headLoss[b], headLoss[a]);
      if (byLoss != 0) {
        return byLoss < 0;
      }
      return headId[a] != headId[b] ? headId[a] < headId[b] : a < b;
    }

    private void siftDown(int i) {
      while (true) {
        int left = 2 * i + 1;
        if (left >= size) {
          return;
        }
        int right = left + 1;
        int child = right < size && before(heap[right], heap[left]) ? right : left;
        if (!before(heap[child], heap[i])) {
          return;
        }
        int swap = heap[i];
        heap[i] = heap[child];
        heap[child] = swap;
        i = child;
      }
    }
  }
}
