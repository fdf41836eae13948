package io.quarry.worker.hardexamples;

/** Where a trainer hands the per-sample losses of each step. Implementations never block for long. */
public interface HardExampleSink {
  /**
   * Offers the first {@code count} losses of one step with each sample's label and the class the model predicted
   * for it. The arrays are read during the call only: a trainer may reuse them for the next step.
   *
   * @param sampleIds the stable sample ids, one per loss
   * @param losses the unreduced per-sample losses
   * @param labels each sample's class label, or {@code null} when the trainer has none (every label unknown); a
   *     negative label means unknown ({@link io.quarry.protocol.HardExample#UNKNOWN})
   * @param predicted the predicted class of each sample at this step (the arg-max of the model's output), or
   *     {@code null}; negative means unknown
   * @param count how many leading entries of the arrays are valid
   * @param step the shard step they were computed at
   */
  void offer(long[] sampleIds, float[] losses, int[] labels, int[] predicted, int count, long step);

  /**
   * Offers the first {@code count} losses of one step, labels and predictions unknown (a trainer without classes,
   * such as the stub and the process trainers).
   *
   * @param sampleIds the stable sample ids, one per loss
   * @param losses the unreduced per-sample losses
   * @param count how many leading entries of the arrays are valid
   * @param step the shard step they were computed at
   */
  default void offer(long[] sampleIds, float[] losses, int count, long step) {
    offer(sampleIds, losses, null, null, count, step);
  }
}
