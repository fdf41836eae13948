package io.quarry.protocol;

import java.util.List;

/**
 * A run as the coordinator reports it to clients (the HTTP API, {@code quarry status}).
 *
 * @param runId the run
 * @param name its display name ({@code name} key)
 * @param state its lifecycle state
 * @param submittedUnixMs when it was submitted
 * @param startedUnixMs when its first shard was assigned; 0 before
 * @param finishedUnixMs when it reached a final state; 0 before
 * @param steps shard steps reached, all shards together
 * @param totalSteps steps the run takes when every shard completes
 * @param lastLoss the most recent mean loss reported ({@code NaN} before the first)
 * @param samplesPerSec training throughput of the whole run so far
 * @param droppedEvents step events dropped under back-pressure so far (known once a shard attempt ends)
 * @param merges hard-example merges recorded so far
 * @param reason why it failed or stopped; empty otherwise
 * @param shards every shard's state
 * @param workers the workers that have trained a shard of the run and are not lost
 * @param runDir the run directory on the coordinator's machine
 * @param hardest the hardest examples of the latest merge (at most 5), highest loss first
 * @param counters the run's counters so far ({@link RunCounter})
 * @param hardExamplesWarning empty while every merge has heard from every worker; else as {@link RunSummary} says
 * @param metrics what the run measures for the metrics endpoint: totals per worker, step and merge durations
 */
public record RunStatus(
    String runId,
    String name,
    RunState state,
    long submittedUnixMs,
    long startedUnixMs,
    long finishedUnixMs,
    long steps,
    long totalSteps,
    float lastLoss,
    double samplesPerSec,
    long droppedEvents,
    int merges,
    String reason,
    List<ShardStatus> shards,
    List<String> workers,
    String runDir,
    List<HardExample> hardest,
    RunCounters counters,
    String hardExamplesWarning,
    RunMetricsSnapshot metrics)
    implements QuarryMessage {
  public RunStatus {
    shards = List.copyOf(shards);
    workers = List.copyOf(workers);
    hardest = List.copyOf(hardest);
    if (metrics == null) metrics = RunMetricsSnapshot.EMPTY;
  }

  /** A status with nothing measured yet ({@link RunMetricsSnapshot#EMPTY}). */
  public RunStatus(String runId, String name, RunState state, long submittedUnixMs, long startedUnixMs,
      long finishedUnixMs, long steps, long totalSteps, float lastLoss, double samplesPerSec, long droppedEvents,
      int merges, String reason, List<ShardStatus> shards, List<String> workers, String runDir,
      List<HardExample> hardest, RunCounters counters, String hardExamplesWarning) {
    this(runId, name, state, submittedUnixMs, startedUnixMs, finishedUnixMs, steps, totalSteps, lastLoss,
        samplesPerSec, droppedEvents, merges, reason, shards, workers, runDir, hardest, counters, hardExamplesWarning,
        RunMetricsSnapshot.EMPTY);
  }

  /**
   * One shard of a run.
   *
   * @param workerId the worker of the current attempt, {@code null} while PENDING
   * @param step the shard step reached
   * @param checkpointStep the step of the checkpoint a new attempt resumes from
   * @param lastFailure the last trainer failure's message; empty if none
   * @param straggler whether the current attempt has been reported as a straggler
   * @param speculativeWorkerId the worker running a speculative copy of the attempt, or {@code null}
   */
  public record ShardStatus(
      int shard,
      ShardState state,
      int attempt,
      int failures,
      String workerId,
      long step,
      long totalSteps,
      long checkpointStep,
      String lastFailure,
      boolean straggler,
      String speculativeWorkerId)
      implements QuarryMessage {}
}
