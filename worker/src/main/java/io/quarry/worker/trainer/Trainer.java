package io.quarry.worker.trainer;

/**
 * Trains one attempt of one shard. A trainer runs on the worker's blocking trainer dispatcher, never on an
 * actor thread, and talks to the rest of Quarry only through its {@link TrainerContext}.
 *
 * <p>Contract: start from {@link TrainerContext#resumeFrom()} when it is present (a checkpoint this trainer
 * wrote, possibly on another worker), check {@link TrainerContext#stopRequested()} at least once per step and
 * return promptly when it is set, report per-sample losses to {@link TrainerContext#hardExamples()} (with labels
 * and predicted classes when it has them), per-step scalars to {@link TrainerContext#telemetry()}, and every
 * checkpoint it writes to {@link TrainerContext#checkpointSaved}. It may register a {@link PayloadRenderer} with
 * {@link TrainerContext#payloads} so that merged hard examples come with a thumbnail or their leading features. A
 * thrown exception fails the attempt; its message becomes the reason.
 */
public interface Trainer {
  /** Runs the shard to its end, or until a stop is requested. */
  ShardResult train(TrainerContext context) throws Exception;
}
