package io.quarry.worker.trainer;

import io.quarry.config.RunConfig;

/**
 * Makes trainers of one kind. Factories are found with {@link java.util.ServiceLoader} (listed in
 * {@code META-INF/services/io.quarry.worker.trainer.TrainerFactory}), so a new trainer is a new jar on the
 * class path; the run config's {@code trainer} key names the factory.
 */
public interface TrainerFactory {
  /** The value of the {@code trainer} key that selects this factory. */
  String name();

  /** A trainer for one shard attempt of a run with this config. */
  Trainer create(RunConfig config);
}
