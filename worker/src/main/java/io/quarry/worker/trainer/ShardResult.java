package io.quarry.worker.trainer;

/**
 * What one attempt of a shard achieved.
 *
 * @param endStep the shard step the attempt ended at (the shard's total steps when it ran to the end)
 * @param stepsTrained steps trained in this attempt
 * @param samplesTrained samples trained in this attempt
 * @param finalLoss the last step's mean loss ({@code NaN} if no step ran)
 * @param stopped true when it ended because a stop was requested, not because the shard was done
 * @param valLoss the last evaluation's validation loss ({@code NaN} when the trainer does not evaluate)
 * @param valAccuracy the last evaluation's validation accuracy ({@code NaN} when the trainer does not evaluate)
 */
public record ShardResult(
    long endStep, long stepsTrained, long samplesTrained, float finalLoss, boolean stopped, float valLoss,
    float valAccuracy) {
  /** A result without an evaluation. */
  public ShardResult(long endStep, long stepsTrained, long samplesTrained, float finalLoss, boolean stopped) {
    this(endStep, stepsTrained, samplesTrained, finalLoss, stopped, Float.NaN, Float.NaN);
  }
}
