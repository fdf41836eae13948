package io.quarry.worker.hardexamples;

/** Where a trainer hands the per-sample losses of each step. Implementations never block for long. */
public interface HardExampleSink {
  /**
   * Offers the first {@code count} losses of one step.
   *
   * @param sampleIds the stable sample ids, one per loss
   * @param losses the unreduced per-sample losses
   * @param count how many leading entries of the arrays are valid
   * @param step the shard step they were computed at
   */
  void offer(long[] sampleIds, float[] losses, int count, long step);
}
