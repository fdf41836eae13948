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
 * the losses seen, allocate nothing. Once the buffer is full, a loss at or below its minimum is turned away after
 * one comparison, without even looking the sample id up: a sample already in the buffer holds a loss at least
 * that high, so a lower one could not replace it anyway. The buffer is a min-heap laid out in parallel primitive
 * arrays, and a presized primitive map from sample id to heap slot keeps deduplication free of boxing.
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

  private final String workerId;
  private final int k;
  private final boolean runWindow;

  // The min-heap: slot 0 holds the lowest loss in the buffer, the first one to give way.
  private final long[] heapIds;
  private final float[] heapLosses;
  private final long[] heapSteps;
  private final Long2LongHashMap slotById;
  private int size;
  /** The loss a sample must beat: the heap's minimum once full; NaN before, which rejects nothing. */
  private float admissionFloor = Float.NaN;

  private double threshold = Double.NaN;
  private final DDSketch sketch = LossSketch.create();
  private long samplesSeen;
  private long aboveThreshold;
  private float maxLoss = Float.NaN;
  private long nanLosses;
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
    // Agrona rounds the capacity up to a power of two and rehashes once size exceeds capacity * loadFactor;
    // 2k slots at load factor 0.5 hold k ids without ever rehashing.
    this.slotById = new Long2LongHashMap(Math.max(8, 2 * k), SLOT_MAP_LOAD_FACTOR, NO_SLOT);
  }

  /**
   * The trainer's path, once per step. The per-sample fast path of {@link #offer(long, float, long)} is repeated
   * here on purpose: that method, once compiled with its slow path inlined (as it is while the buffer fills),
   * can be too big for the JIT to inline into a caller's loop (one JMH run: 77 against 134 samples per
   * microsecond); this loop does not depend on that decision.
   */
  @Override
  public void offer(long[] sampleIds, float[] losses, int count, long step) {
    for (int i = 0; i < count; i++) {
      float loss = losses[i];
      if (loss != loss) {
        nanLosses++;
        continue;
      }
      recordStatistics(loss);
      if (!(loss <= admissionFloor)) {
        admit(sampleIds[i], loss, step);
      }
    }
  }

  /**
   * Offers one sample's loss.
   *
   * @return {@code true} when the buffer took it (a new entry, or a higher loss for a sample already there);
   *     {@code false} when it was turned away (too low, not higher than the sample's own entry, or {@code NaN})
   */
  public boolean offer(long sampleId, float loss, long step) {
    if (loss != loss) { // NaN: a broken loss is counted, never ranked, and must not poison maxLoss or the sketch
      nanLosses++;
      return false;
    }
    recordStatistics(loss);
    if (loss <= admissionFloor) { // false while the buffer has room: the floor is NaN then
      return false;
    }
    return admit(sampleId, loss, step);
  }

  /** The rare path: a loss above the floor, or any loss while the buffer has room. */
  private boolean admit(long sampleId, float loss, long step) {
    long slot = slotById.get(sampleId);
    if (slot != NO_SLOT) {
      return raise((int) slot, loss, step);
    }
    if (size < k) {
      int added = size++;
      place(added, sampleId, loss, step);
      siftUp(added);
    } else {
      slotById.remove(heapIds[0]);
      place(0, sampleId, loss, step);
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
    // DDSketch throws on values it cannot index; an infinite loss is kept as the largest finite float.
    sketch.accept(Math.abs(loss) <= Float.MAX_VALUE ? loss : Math.copySign(Float.MAX_VALUE, loss));
  }

  private boolean raise(int slot, float loss, long step) {
    if (loss <= heapLosses[slot]) {
      return false;
    }
    heapLosses[slot] = loss;
    heapSteps[slot] = step;
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
   * @param stepsTrained steps this worker has trained for the run, all shards together
   */
  public HardExampleSnapshot snapshot(String runId, int merge, long stepsTrained) {
    HardExampleSnapshot snapshot = new HardExampleSnapshot(
        runId, merge, workerId, entries(), samplesSeen, aboveThreshold, maxLoss, LossSketch.encode(sketch),
        stepsTrained);
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
      entries.add(new HardExample(heapIds[slot], heapLosses[slot], workerId, heapSteps[slot]));
    }
    entries.sort(HIGHEST_FIRST);
    return entries;
  }

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

  /** Non-NaN losses offered since the last snapshot. */
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

  /** NaN losses offered over the tracker's life: a trainer emitting them is broken, and this shows how often. */
  public long nanLosses() {
    return nanLosses;
  }

  /** Offers turned away over the tracker's life (NaN excluded): the buffer's pressure, for telemetry. */
  public long rejectedOffers() {
    return offeredBeforeInterval + samplesSeen - admitted;
  }

  /** The interval's quantile of every loss offered since the last snapshot; {@code NaN} if none. */
  public double lossQuantile(double quantile) {
    return LossSketch.quantile(sketch, quantile);
  }

  private void place(int slot, long sampleId, float loss, long step) {
    heapIds[slot] = sampleId;
    heapLosses[slot] = loss;
    heapSteps[slot] = step;
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
    heapIds[a] = heapIds[b];
    heapLosses[a] = heapLosses[b];
    heapSteps[a] = heapSteps[b];
    heapIds[b] = idA;
    heapLosses[b] = lossA;
    heapSteps[b] = stepA;
    slotById.put(heapIds[a], a);
    slotById.put(idA, b);
  }
}
