package io.quarry.worker.trainer;

/**
 * What one all-reduce round of gradients did ({@link TrainerContext#allReduceGradients}).
 *
 * @param shards how many shards' gradients the trainer now holds the mean of (1: it trained alone this step), or 0
 *     when the round aborted: the gradients are the shard's own and the trainer skips this optimizer step, so every
 *     member keeps the parameters it had before the round
 * @param parameters the members' mean parameters, which the trainer writes into its model before the step, or null:
 *     the first round of a new ring aligns the members' parameters (a replica that was cut off, or resumed from a
 *     checkpoint, continues from the same bits as the others)
 */
public record GradientRound(int shards, float[] parameters) {
  /** Alone: nothing exchanged, the step goes on with the shard's own gradients. */
  public static final GradientRound ALONE = new GradientRound(1, null);

  /** Whether the trainer takes its optimizer step. */
  public boolean step() {
    return shards > 0;
  }
}
