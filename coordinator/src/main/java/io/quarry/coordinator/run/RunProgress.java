package io.quarry.coordinator.run;

import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunUpdate;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * A run's totals and progress, as plain logic fed by the lifecycle reports (never by telemetry): its times, the steps
 * and samples its shards' final reports count, the latest loss, each completed shard's final evaluation, and its
 * counters — the workers' running totals (per worker the element-wise maximum of its reports, so a report that
 * arrives twice or late changes nothing; summed over workers) and the ones the run counts itself. Time comes in as
 * an argument.
 */
public final class RunProgress {
  private final long submittedAtMs;
  private long startedAtMs;
  private long finishedAtMs;
  private long stepsTrained;
  private long samplesTrained;
  private float lastLoss;
  private final Map<Integer, RunTotals.ShardMetrics> shardMetrics = new TreeMap<>();
  private RunCounters counters;
  private final Map<String, RunCounters> workerCounters = new HashMap<>();
  /** Where the throughput is measured from: the submission, or the latest resumption and the steps reached then. */
  private long rateFromMs;
  private long rateFromSteps;

  /**
   * A run submitted at {@code submittedAtMs} (unix ms) that has counted {@code totals} so far (a recovered run)
   * and started at {@code startedAtMs} (0: not yet).
   */
  public RunProgress(long submittedAtMs, long startedAtMs, RunTotals totals) {
    this.submittedAtMs = submittedAtMs;
    this.startedAtMs = startedAtMs;
    this.stepsTrained = totals.stepsTrained();
    this.samplesTrained = totals.samplesTrained();
    this.lastLoss = totals.lastLoss();
    this.shardMetrics.putAll(totals.shardMetrics());
    this.counters = totals.counters();
    this.workerCounters.putAll(totals.workerCounters());
    this.rateFromMs = submittedAtMs;
  }

  /**
   * A person resumed the stopped or failed run at {@code nowMs}, with {@code stepsReached} steps reached: its
   * throughput and elapsed time count from here (not across the time it lay stopped), and it has not finished.
   */
  public void resumed(long nowMs, long stepsReached) {
    rateFromMs = nowMs;
    rateFromSteps = stepsReached;
    finishedAtMs = 0;
  }

  /** The run's first shard went out at {@code nowMs}. Returns false if it had started before. */
  public boolean start(long nowMs) {
    if (startedAtMs != 0) return false;
    startedAtMs = nowMs;
    return true;
  }

  /** The run ended at {@code nowMs}. */
  public void finish(long nowMs) {
    finishedAtMs = nowMs;
  }

  /**
   * A running attempt's lifecycle report of its progress: its worker's running totals, and its loss when
   * {@code current} (the attempt is one the run follows, not one it has given up on).
   */
  public void shardProgressed(String workerId, float loss, RunCounters workerTotals, boolean current) {
    if (current && !Float.isNaN(loss)) lastLoss = loss;
    workerReported(workerId, workerTotals);
  }

  /** An attempt's final report (completed, failed or stopped), current or not: what it trained counts. */
  public void attemptEnded(String workerId, long steps, long samples, RunCounters workerTotals) {
    stepsTrained += steps;
    samplesTrained += samples;
    workerReported(workerId, workerTotals);
  }

  /** A shard completed with {@code finalLoss} and its model's final evaluation ({@code NaN} when none). */
  public void shardCompleted(int shard, float finalLoss, float valLoss, float valAccuracy) {
    if (!Float.isNaN(finalLoss)) lastLoss = finalLoss;
    if (!Float.isNaN(valLoss)) shardMetrics.put(shard, new RunTotals.ShardMetrics(valLoss, valAccuracy));
  }

  /** Counts {@code delta} more of a counter the run keeps itself (raises it to {@code delta}, for a maximum). */
  public void count(RunCounter counter, long delta) {
    counters = counters.add(counter, delta);
  }

  /** Sets a counter the run keeps itself. */
  public void set(RunCounter counter, long value) {
    counters = counters.with(counter, value);
  }

  private void workerReported(String workerId, RunCounters workerTotals) {
    if (workerTotals == null) return;
    workerCounters.merge(workerId, workerTotals, RunCounters::max);
  }

  /** The run's counters: its own, with the workers' added up. */
  public RunCounters counters() {
    RunCounters total = counters;
    for (RunCounters worker : workerCounters.values()) total = total.plus(worker);
    return total;
  }

  /** What the run store keeps, with the run's {@code merges} and {@code stepsRedone}. */
  public RunTotals totals(int merges, long stepsRedone) {
    return totals(merges, stepsRedone, java.util.Map.of());
  }

  /** What the run store keeps, with the furthest step each shard's attempts trained to, {@code shardSteps}. */
  public RunTotals totals(int merges, long stepsRedone, Map<Integer, Long> shardSteps) {
    return new RunTotals(stepsTrained, samplesTrained, merges, lastLoss, stepsRedone, shardMetrics, counters,
        workerCounters, shardSteps);
  }

  /**
   * The progress watchers see at {@code nowMs}: {@code steps} of {@code totalSteps} reached, the loss, and the
   * throughput since submission (the client derives the ETA from these).
   */
  public RunUpdate.Progressed update(String runId, RunState state, long steps, long totalSteps, int batchSize,
      long nowMs) {
    long elapsedMs = Math.max(1, nowMs - rateFromMs);
    double samplesPerSec = Math.max(0, steps - rateFromSteps) * (double) batchSize * 1000.0 / elapsedMs;
    return new RunUpdate.Progressed(runId, state, steps, totalSteps, lastLoss, samplesPerSec, elapsedMs);
  }

  public long submittedAtMs() {
    return submittedAtMs;
  }

  /** 0 until the run starts. */
  public long startedAtMs() {
    return startedAtMs;
  }

  /** 0 until the run ends. */
  public long finishedAtMs() {
    return finishedAtMs;
  }

  public long stepsTrained() {
    return stepsTrained;
  }

  public long samplesTrained() {
    return samplesTrained;
  }

  /** The latest mean loss reported; {@code NaN} before the first. */
  public float lastLoss() {
    return lastLoss;
  }

  /** Step events the workers dropped, all together. */
  public long droppedEvents() {
    return counters().get(RunCounter.TELEMETRY_DROPPED);
  }
}
