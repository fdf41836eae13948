package io.quarry.coordinator.run;

import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a run has counted so far, as the run store keeps it beside the run record (its JSON is
 * {@link RunRecords#totalsJson}): a coordinator that recovers the run after a failover continues from these, so
 * nothing is counted twice.
 *
 * @param stepsTrained steps the shards' final reports say were trained (redone steps included)
 * @param samplesTrained samples the shards' final reports say were trained
 * @param merges hard-example merges started
 * @param lastLoss the latest mean loss reported; {@code NaN} before the first
 * @param stepsRedone steps trained more than once (an attempt ended past its last checkpoint, a speculative copy)
 * @param shardMetrics per completed shard, its model's final evaluation
 * @param counters the counters the run counts itself ({@link RunCounter.Side#COORDINATOR})
 * @param workerCounters per worker, the latest running totals of its counters for the run
 *     ({@link RunCounter.Side#WORKER}); kept per worker because workers keep counting through a failover
 * @param shardSteps per shard, the furthest step any of its attempts trained to: a resumed run counts the steps its
 *     new attempts train again (from a checkpoint before that step) as redone
 */
public record RunTotals(
    long stepsTrained,
    long samplesTrained,
    int merges,
    float lastLoss,
    long stepsRedone,
    Map<Integer, ShardMetrics> shardMetrics,
    RunCounters counters,
    Map<String, RunCounters> workerCounters,
    Map<Integer, Long> shardSteps) {

  /** A run that has counted nothing yet. */
  public static final RunTotals ZERO =
      new RunTotals(0, 0, 0, Float.NaN, 0, Map.of(), RunCounters.ZERO, Map.of(), Map.of());

  /** A completed shard's final evaluation; {@code NaN} for what its trainer does not report. */
  public record ShardMetrics(float valLoss, float valAccuracy) {}

  public RunTotals {
    shardMetrics = Map.copyOf(new TreeMap<>(shardMetrics));
    workerCounters = Map.copyOf(workerCounters);
    shardSteps = Map.copyOf(new TreeMap<>(shardSteps));
  }

  /** Totals without the shards' furthest steps (totals written before they were kept). */
  public RunTotals(long stepsTrained, long samplesTrained, int merges, float lastLoss, long stepsRedone,
      Map<Integer, ShardMetrics> shardMetrics, RunCounters counters, Map<String, RunCounters> workerCounters) {
    this(stepsTrained, samplesTrained, merges, lastLoss, stepsRedone, shardMetrics, counters, workerCounters, Map.of());
  }

  /** Step events the workers dropped under back-pressure: their {@code telemetry_dropped} added up. */
  public long droppedEvents() {
    long dropped = 0;
    for (RunCounters worker : workerCounters.values()) dropped += worker.get(RunCounter.TELEMETRY_DROPPED);
    return dropped;
  }
}
