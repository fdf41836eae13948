package io.quarry.protocol;

import java.util.List;

/**
 * How a run ended.
 *
 * @param runId the run
 * @param status {@code COMPLETED}, {@code FAILED} or {@code STOPPED}
 * @param reason why it failed or stopped; empty when it completed
 * @param steps shard steps reached, all shards together (what the run achieved)
 * @param stepsRedone steps trained twice because an attempt was lost after its last checkpoint
 * @param samples samples trained, all attempts together
 * @param wallMs wall time from start to end
 * @param droppedEvents step events dropped under back-pressure
 * @param merges hard-example merges recorded
 * @param hardest the final merged hard examples, highest loss first
 * @param runDir the run directory
 * @param valLoss the mean over the shards' models of their final validation loss; {@code NaN} when none evaluated
 * @param valAccuracy the same for validation accuracy (with {@code sync.mode = average} every shard holds one model)
 * @param counters the run's counters at its end ({@link RunCounter})
 * @param hardExamplesWarning empty when every merge heard from every worker; else what a person should know: how many
 *     merges left workers out and why the last one did, or, when no merge heard from any worker, that the run has no
 *     hard examples at all
 */
public record RunSummary(
    String runId,
    RunState status,
    String reason,
    long steps,
    long stepsRedone,
    long samples,
    long wallMs,
    long droppedEvents,
    int merges,
    List<HardExample> hardest,
    String runDir,
    double valLoss,
    double valAccuracy,
    RunCounters counters,
    String hardExamplesWarning)
    implements QuarryMessage {
  public RunSummary {
    hardest = List.copyOf(hardest);
  }

  /** Samples per second over the wall time. */
  public double samplesPerSec() {
    return wallMs <= 0 ? 0.0 : samples * 1000.0 / wallMs;
  }
}
