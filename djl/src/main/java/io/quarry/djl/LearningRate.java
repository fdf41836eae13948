package io.quarry.djl;

import io.quarry.config.RunConfig;

/**
 * The learning rate of each shard step ({@code optimizer.lr}, {@code optimizer.schedule}, {@code optimizer.warmup-steps},
 * {@code optimizer.decay-every}, {@code optimizer.decay-factor}). A pure function of the step, so a resumed shard
 * continues on the same curve.
 *
 * <ul>
 *   <li>warm-up: steps {@code 0 .. warmup-1} ramp linearly up to the scheduled value ({@code (step + 1) / warmup});
 *   <li>{@code constant}: {@code lr};
 *   <li>{@code step}: {@code lr × decay-factor ^ floor(step / decay-every)};
 *   <li>{@code cosine}: after the warm-up, {@code lr × (1 + cos(π × progress)) / 2}, progress going from 0 at the end of
 *       the warm-up to 1 at the shard's last step.
 * </ul>
 */
public record LearningRate(double base, String schedule, long warmupSteps, long decayEvery, double decayFactor, long totalSteps) {
  public static LearningRate of(RunConfig config, long totalSteps) {
    DjlSettings.Optimizer o = DjlSettings.of(config).optimizer();
    return new LearningRate(config.learningRate, o.schedule(), o.warmupSteps(), o.decayEvery(), o.decayFactor(), totalSteps);
  }

  /** The learning rate at shard step {@code step} (0-based). */
  public float at(long step) {
    double lr = switch (schedule) {
      case "step" -> base * Math.pow(decayFactor, Math.floorDiv(step, decayEvery));
      case "cosine" -> {
        long span = totalSteps - 1 - warmupSteps;
        double progress = span <= 0 ? 0 : Math.min(1, Math.max(0, (double) (step - warmupSteps) / span));
        yield base * 0.5 * (1 + Math.cos(Math.PI * progress));
      }
      default -> base;
    };
    if (step < warmupSteps) lr *= (double) (step + 1) / warmupSteps;
    return (float) lr;
  }
}
