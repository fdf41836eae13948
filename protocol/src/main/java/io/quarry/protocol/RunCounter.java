package io.quarry.protocol;

/**
 * The counters every run keeps, one enumerated set (as Aeron's {@code SystemCounterDescriptor}): each has a stable id
 * (its index in {@link RunCounters}), a name (its key in the run status, in {@code run_completed}'s
 * {@code counters}, and in the metrics endpoint) and a meaning. Counters only grow, except those of kind
 * {@link Kind#MAX}, which keep the largest value seen. Append new counters at the end; never reuse an id.
 */
public enum RunCounter {
  SAMPLES_REJECTED(0, "samples_rejected", Kind.TOTAL, Side.WORKER,
      "per-sample losses the workers' hard-example trackers turned away (at or below a full buffer's minimum)"),
  NONFINITE_LOSSES(1, "nonfinite_losses", Kind.TOTAL, Side.WORKER,
      "per-sample losses that were NaN or infinite: counted, never ranked"),
  TELEMETRY_DROPPED(2, "telemetry_dropped", Kind.TOTAL, Side.WORKER,
      "step events dropped under back-pressure (lifecycle reports are never dropped)"),
  PAYLOADS_WRITTEN(3, "payloads_written", Kind.TOTAL, Side.COORDINATOR,
      "hard-example payloads (thumbnails, leading features) written to the run directory"),
  PAYLOADS_DROPPED(4, "payloads_dropped", Kind.TOTAL, Side.COORDINATOR,
      "hard-example payloads refused: too large, malformed, or past the run's cap"),
  MERGES(5, "merges", Kind.TOTAL, Side.COORDINATOR, "hard-example merges recorded"),
  MERGE_WORKERS_MISSING(6, "merge_workers_missing", Kind.TOTAL, Side.COORDINATOR,
      "workers left out of a merge, summed over merges (hard_examples.jsonl's missing_why says why: timeout, incomplete, lost)"),
  MERGE_GATHER_MS_TOTAL(7, "merge_gather_ms_total", Kind.TOTAL, Side.COORDINATOR,
      "milliseconds spent all-gathering buffers, summed over merges (divide by merges for the mean)"),
  MERGE_GATHER_MS_MAX(8, "merge_gather_ms_max", Kind.MAX, Side.COORDINATOR, "the slowest all-gather, in milliseconds"),
  SHARD_RETRIES(9, "shard_retries", Kind.TOTAL, Side.COORDINATOR, "shard attempts retried after their trainer failed"),
  SHARDS_REASSIGNED(10, "shards_reassigned", Kind.TOTAL, Side.COORDINATOR,
      "shard attempts given to another worker because theirs was lost or did not reclaim them after a failover"),
  SYNC_ROUNDS(11, "sync_rounds", Kind.TOTAL, Side.COORDINATOR, "parameter-averaging rounds completed"),
  SYNC_ROUNDS_INCOMPLETE(12, "sync_rounds_incomplete", Kind.TOTAL, Side.COORDINATOR,
      "averaging rounds that completed without every running shard (timed out or a shard left)"),
  MERGES_INCOMPLETE(13, "merges_incomplete", Kind.TOTAL, Side.COORDINATOR,
      "hard-example merges that left at least one worker out"),
  MERGES_UNANSWERED(14, "merges_unanswered", Kind.TOTAL, Side.COORDINATOR,
      "hard-example merges that left every worker out: they hold no hard examples at all"),
  TELEMETRY_UNWRITTEN(15, "telemetry_unwritten", Kind.TOTAL, Side.COORDINATOR,
      "telemetry lines (events.jsonl step, epoch, eval, checkpoint and hard_examples lines; scalars.csv rows) the run "
          + "directory could not take (a full disk): dropped, the run goes on"),
  SYNC_MS_TOTAL(16, "sync_ms_total", Kind.TOTAL, Side.COORDINATOR,
      "milliseconds averaging rounds took, from a round's first parameters to its average, summed over rounds"),
  SYNC_BYTES_RECEIVED(17, "sync_received_bytes", Kind.TOTAL, Side.COORDINATOR,
      "bytes of parameters the run received from its shards for averaging (4 per float)"),
  SYNC_BYTES_SENT(18, "sync_sent_bytes", Kind.TOTAL, Side.COORDINATOR,
      "bytes of averaged parameters the run sent back to its shards (4 per float)"),
  ALERTS(19, "alerts", Kind.TOTAL, Side.COORDINATOR,
      "alerts raised: a shard's loss became NaN or infinite, or the run stalled (alert events)"),

  GROUP_RESTARTS(20, "group_restarts", Kind.TOTAL, Side.COORDINATOR,
      "restarts of a process group (process.distributed = torch): every rank stopped and started again from rank 0's "
          + "last checkpoint after one rank failed, hung or lost its worker");

  /** How a counter combines: a running total, or the largest value seen. */
  public enum Kind {
    TOTAL,
    MAX
  }

  /** Where the counter is counted: on the workers (reported with their lifecycle reports) or by the run itself. */
  public enum Side {
    WORKER,
    COORDINATOR
  }

  private final int id;
  private final String label;
  private final Kind kind;
  private final Side side;
  private final String meaning;

  RunCounter(int id, String label, Kind kind, Side side, String meaning) {
    this.id = id;
    this.label = label;
    this.kind = kind;
    this.side = side;
    this.meaning = meaning;
  }

  /** The counter's index in {@link RunCounters}. */
  public int id() {
    return id;
  }

  /** The counter's name in JSON and metrics, lower case with underscores. */
  public String label() {
    return label;
  }

  public Kind kind() {
    return kind;
  }

  public Side side() {
    return side;
  }

  /** One line: what it counts. */
  public String meaning() {
    return meaning;
  }
}
