package io.quarry.coordinator.merge;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.LongSupplier;

/**
 * The hard-example merges of one run, as plain logic: at most one all-gather at a time, numbered from 0; the merge
 * of what it gathered; the run's hardest examples; and the gate a run passes before it completes — its final merge
 * recorded and every payload of that merge in (or given up on).
 *
 * <p>Payloads: once a merge's buffer goes out, every participating worker with entries in it owes that merge's
 * payloads (a last message for it). Workers answer in merge order, so one answer covers the earlier merges.
 */
public final class MergeRounds {
  /**
   * One merge, done.
   *
   * @param missingWhy the workers left out, by id, with why ({@link SnapshotGather}: timeout, incomplete, lost)
   * @param parts how many parts each answering worker's snapshot took
   * @param gatherMs from asking every worker to the last answer (or the timeout)
   * @param mergeMs the merge itself
   */
  public record Merged(int merge, MergeResult result, Map<String, String> missingWhy, Map<String, Integer> parts,
      double gatherMs, double mergeMs) {
    public Merged {
      missingWhy = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(missingWhy));
      parts = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(parts));
    }

    /** The workers left out, in id order. */
    public List<String> missing() {
      return List.copyOf(missingWhy.keySet());
    }

    /** True when no worker took part: every one asked was left out. */
    public boolean unanswered() {
      return !missingWhy.isEmpty() && result.workers().isEmpty();
    }
  }

  /** How many workers' reasons a warning names before it says how many more there were. */
  private static final int NAMED_IN_WARNING = 3;

  private final MergeMode mode;
  private final int k;
  private final double thresholdQuantile;
  private final LongSupplier nanoClock;
  private int nextMerge;
  private int inFlight = -1;
  private long startedNs;
  private int finalMerge = -1;
  private boolean finalMergeSent;
  private List<HardExample> hardest = List.of();
  /** The latest merge that left a worker out, or null. */
  private Merged lastIncomplete;
  /** Per worker, the latest merge whose payloads it owes (its last message for that merge has not come). */
  private final Map<String, Integer> payloadsOwed = new HashMap<>();

  /**
   * @param mergesBefore merges an earlier coordinator incarnation started for the run (0 for a new run)
   * @param nanoClock {@link System#nanoTime} in the run; anything monotonic in tests
   */
  public MergeRounds(MergeMode mode, int k, double thresholdQuantile, int mergesBefore, LongSupplier nanoClock) {
    this.mode = mode;
    this.k = k;
    this.thresholdQuantile = thresholdQuantile;
    this.nextMerge = mergesBefore;
    this.nanoClock = nanoClock;
  }

  /** Merges started so far, the one in flight included. */
  public int started() {
    return nextMerge;
  }

  /** True while an all-gather is out. */
  public boolean inFlight() {
    return inFlight >= 0;
  }

  /** Starts the next merge and returns its number. */
  public int start() {
    if (inFlight()) throw new IllegalStateException("merge " + inFlight + " is still gathering");
    inFlight = nextMerge++;
    startedNs = nanoClock.getAsLong();
    return inFlight;
  }

  /** Starts the run's final merge (the last before it ends) and returns its number. */
  public int startFinal() {
    finalMerge = start();
    return finalMerge;
  }

  /** True once the final merge has started. */
  public boolean finalStarted() {
    return finalMerge >= 0;
  }

  /**
   * The all-gather of merge {@code merge} is over: merges what arrived. A merge in which nothing was trained (the
   * final one, when every shard ended before it) keeps the previous merge's entries as the run's hardest.
   */
  public Merged collected(int merge, List<HardExampleSnapshot> snapshots, Map<String, String> missingWhy,
      Map<String, Integer> parts) {
    long gatheredNs = nanoClock.getAsLong();
    if (merge == inFlight) inFlight = -1;
    MergeResult result = HardExampleMerger.merge(merge, mode, k, thresholdQuantile, snapshots);
    double gatherMs = (gatheredNs - startedNs) / 1e6;
    double mergeMs = (nanoClock.getAsLong() - gatheredNs) / 1e6;
    if (!result.entries().isEmpty() || hardest.isEmpty()) hardest = result.entries();
    Merged merged = new Merged(merge, result, missingWhy, parts, gatherMs, mergeMs);
    if (!merged.missingWhy().isEmpty()) lastIncomplete = merged;
    return merged;
  }

  /** The latest merge (of this coordinator incarnation) that left a worker out; null if none did. */
  public Merged lastIncomplete() {
    return lastIncomplete;
  }

  /**
   * What a person should know about the run's merges, from its counters: empty when every merge heard from every
   * worker; else how many left workers out and why the latest did; and when no merge heard from any worker, first of
   * all that the run has no hard examples.
   *
   * @param merges merges recorded
   * @param incomplete merges that left a worker out
   * @param unanswered merges that left every worker out
   */
  public String warning(long merges, long incomplete, long unanswered) {
    if (incomplete == 0) return "";
    StringBuilder warning = new StringBuilder();
    if (unanswered == merges) {
      warning.append("no hard examples: ").append(merges == 1 ? "the run's only merge" : "all " + merges + " merges")
          .append(" left every worker out");
    } else {
      warning.append(incomplete).append(" of ").append(merges).append(" merges left workers out");
      if (unanswered > 0) warning.append(" (").append(unanswered).append(" left every worker out)");
    }
    if (lastIncomplete != null) {
      warning.append("; the last, merge ").append(lastIncomplete.merge()).append(": ");
      int named = 0;
      for (Map.Entry<String, String> worker : lastIncomplete.missingWhy().entrySet()) {
        if (named == NAMED_IN_WARNING) {
          warning.append("; and ").append(lastIncomplete.missingWhy().size() - named).append(" more");
          break;
        }
        if (named++ > 0) warning.append("; ");
        warning.append(worker.getKey()).append(": ").append(worker.getValue());
      }
    }
    return warning.append(" (hard_examples.jsonl: missing_why)").toString();
  }

  /**
   * The merged buffer went out to {@code participants}: each of them with entries in it now owes the merge's
   * payloads. Sending the final merge's buffer closes the gate's first half.
   */
  public void sent(Merged merged, Set<String> participants) {
    for (HardExample entry : merged.result().entries()) {
      if (participants.contains(entry.workerId())) payloadsOwed.put(entry.workerId(), merged.merge());
    }
    if (merged.merge() == finalMerge) finalMergeSent = true;
  }

  /** Payloads of {@code merge} came from {@code workerId}; {@code last}: its last message for that merge. */
  public void payloadsReceived(String workerId, int merge, boolean last) {
    if (last && Integer.valueOf(merge).equals(payloadsOwed.get(workerId))) payloadsOwed.remove(workerId);
  }

  /** The worker is gone: it owes nothing any more. */
  public void workerLost(String workerId) {
    payloadsOwed.remove(workerId);
  }

  /** The workers whose payloads are still awaited. */
  public Set<String> payloadsAwaited() {
    return new TreeSet<>(payloadsOwed.keySet());
  }

  /** The run stops waiting for payloads (its wait for the final merge's ran out). */
  public void giveUpOnPayloads() {
    payloadsOwed.clear();
  }

  /** True once the final merge's buffer has gone out and no payloads are awaited: the run may complete. */
  public boolean gateOpen() {
    return finalMergeSent && payloadsOwed.isEmpty();
  }

  /** True once the final merge's buffer has gone out. */
  public boolean finalMergeSent() {
    return finalMergeSent;
  }

  /** The latest merge that had entries: the run's hardest examples, highest loss first. */
  public List<HardExample> hardest() {
    return hardest;
  }

  public MergeMode mode() {
    return mode;
  }

  public int k() {
    return k;
  }
}
