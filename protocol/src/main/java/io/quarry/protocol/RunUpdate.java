package io.quarry.protocol;

/** What a run's watchers ({@link CoordinatorCommand.WatchRun}) receive: progress while it runs, then its summary. */
public sealed interface RunUpdate extends QuarryMessage {
  String runId();

  /**
   * Progress of a running run.
   *
   * @param steps steps trained so far, all shards together (redone steps not counted twice)
   * @param totalSteps steps the run will take when every shard completes
   * @param loss the most recent mean loss reported ({@code NaN} before the first, and in fast mode until a shard ends)
   * @param samplesPerSec training throughput of the whole run
   */
  record Progressed(
      String runId, RunState state, long steps, long totalSteps, float loss, double samplesPerSec, long elapsedMs)
      implements RunUpdate {}

  /** The run ended. */
  record Finished(String runId, RunSummary summary) implements RunUpdate {}

  /** There is no run with that id. */
  record UnknownRun(String runId) implements RunUpdate {}
}
