package io.quarry.worker.trainer.stub;

import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.TrainerSpec;
import java.util.List;

/** {@code trainer = stub}: the section of the run config the simulated trainer reads ({@code stub.*}). */
public final class StubTrainerSpec implements TrainerSpec {
  private static final long MAX = Long.MAX_VALUE;

  @Override
  public String name() {
    return "stub";
  }

  @Override
  public String description() {
    return "the deterministic simulated trainer: planted hard samples, real checkpoints, injected faults";
  }

  @Override
  public List<ConfigKey> keys() {
    return List.of(
        ConfigKey.longInt("stub.samples", 1, 1L << 40, "size of the simulated dataset"),
        ConfigKey.duration("stub.step-time", 0, 3_600_000, "pacing of each simulated step; 0 = as fast as possible"),
        ConfigKey.decimal("stub.hard-fraction", 0.0, 1.0, "fraction of samples planted hard"),
        ConfigKey.longInt("stub.fail-at-step", -1, MAX, "fail at this shard step (-1 = never)"),
        ConfigKey.integer("stub.fail-attempts", 0, 1000, "fail only on the first N attempts (0 = every attempt)"),
        ConfigKey.longInt("stub.hang-at-step", -1, MAX, "hang at this shard step until stopped (-1 = never)"),
        ConfigKey.decimal("stub.slow-factor", 1.0, 10_000.0, "steps take this many times longer (a straggler)"),
        ConfigKey.integer("stub.slow-attempts", 0, 1000, "slow only on the first N attempts (0 = every attempt)"),
        ConfigKey.longInt("stub.nonfinite-at-step", -1, MAX, "from this shard step on every loss is NaN (-1 = never)"),
        ConfigKey.intList("stub.fault-shards", 0, 1_000_000, "shards the faults apply to; empty = every shard"));
  }

  @Override
  public long samples(RunConfig config) {
    return config.raw().getLong("stub.samples");
  }

  /** Its pacing and its injected faults change no step and no checkpoint: a resumed run may change them. */
  @Override
  public List<String> resumableKeys() {
    return List.of("stub.step-time", "stub.fail-at-step", "stub.fail-attempts", "stub.hang-at-step",
        "stub.slow-factor", "stub.slow-attempts", "stub.fault-shards");
  }
}
