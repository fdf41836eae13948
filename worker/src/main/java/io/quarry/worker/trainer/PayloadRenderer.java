package io.quarry.worker.trainer;

/**
 * Renders one sample of the run's dataset into a {@link Payload}, for the hard examples that survive a merge. A
 * trainer registers one with {@link TrainerContext#payloads(PayloadRenderer)}.
 *
 * <p>It is called on a worker thread of its own, concurrently with training, and also after the trainer has
 * returned (the run's final merge happens once every shard has finished): it must be thread-safe and must only use
 * what stays valid for the run's whole life on the worker (the dataset, read-only), never per-attempt resources
 * that {@link Trainer#train} closes. It is called at most once per sample and run on a worker, only for samples this
 * worker contributed to a merge.
 */
@FunctionalInterface
public interface PayloadRenderer {
  /**
   * The payload of sample {@code sampleId}, or {@code null} when it has none. A thrown exception skips the sample
   * (counted and logged by the worker); it never fails the shard.
   */
  Payload render(long sampleId) throws Exception;
}
