package io.quarry.worker.trainer.stub;

import io.quarry.config.RunConfig;
import java.time.Duration;
import java.util.List;

/**
 * {@code stub.*}: the simulated trainer's section of a run config ({@link StubTrainerSpec} declares its keys).
 *
 * @param samples the simulated dataset's size
 * @param stepTime pacing of each step; zero = as fast as possible
 * @param hardFraction the fraction of samples planted hard
 * @param failAtStep fail at this shard step (-1 = never)
 * @param failAttempts fail only on the first this-many attempts (0 = every attempt)
 * @param hangAtStep hang at this shard step until stopped (-1 = never)
 * @param slowFactor steps take this many times longer
 * @param slowAttempts slow only on the first this-many attempts (0 = every attempt)
 * @param nonFiniteAtStep from this shard step on, every loss is NaN (-1 = never)
 * @param faultShards the shards the faults apply to; empty = every shard
 */
public record StubSettings(
    long samples,
    Duration stepTime,
    double hardFraction,
    long failAtStep,
    int failAttempts,
    long hangAtStep,
    double slowFactor,
    int slowAttempts,
    long nonFiniteAtStep,
    List<Integer> faultShards) {

  /** The stub section of {@code config}. */
  public static StubSettings of(RunConfig config) {
    var raw = config.raw();
    return new StubSettings(
        raw.getLong("stub.samples"),
        raw.getDuration("stub.step-time"),
        raw.getDouble("stub.hard-fraction"),
        raw.getLong("stub.fail-at-step"),
        raw.getInt("stub.fail-attempts"),
        raw.getLong("stub.hang-at-step"),
        raw.getDouble("stub.slow-factor"),
        raw.getInt("stub.slow-attempts"),
        raw.getLong("stub.nonfinite-at-step"),
        List.copyOf(raw.getIntList("stub.fault-shards")));
  }

  /** True when the injected faults apply to {@code shard}. */
  public boolean faultsApplyTo(int shard) {
    return faultShards.isEmpty() || faultShards.contains(shard);
  }
}
