package io.quarry.worker.checkpoint;

import java.util.Map;
import java.util.Objects;

/**
 * What a checkpoint says about itself, written as {@code manifest.json} (last, so a directory with a
 * manifest is complete).
 *
 * @param step the next shard step to train (the steps before it are done)
 * @param epoch the epoch of {@code step}
 * @param cursor the position of {@code step} within its epoch, in steps
 * @param rngState the trainer's random-number state after the steps before {@code step}
 * @param valLoss the last evaluation's loss, or {@code NaN} when none has run yet (a NaN checkpoint is never best)
 * @param trainer the name of the trainer that wrote it ({@code stub}, ...)
 * @param createdUnixMs when it was written
 * @param extra trainer-specific entries (parameter file names, running sums, ...)
 */
public record CheckpointManifest(
    long step,
    int epoch,
    long cursor,
    long rngState,
    double valLoss,
    String trainer,
    long createdUnixMs,
    Map<String, String> extra) {

  public CheckpointManifest {
    if (step < 0) throw new IllegalArgumentException("step must be >= 0, was " + step);
    if (epoch < 0) throw new IllegalArgumentException("epoch must be >= 0, was " + epoch);
    if (cursor < 0) throw new IllegalArgumentException("cursor must be >= 0, was " + cursor);
    Objects.requireNonNull(trainer, "trainer");
    if (trainer.isBlank()) throw new IllegalArgumentException("trainer must not be blank");
    extra = extra == null ? Map.of() : Map.copyOf(extra);
  }

  /** True when this checkpoint carries an evaluation loss that can be compared (not {@code NaN}). */
  public boolean hasValLoss() {
    return !Double.isNaN(valLoss);
  }
}
