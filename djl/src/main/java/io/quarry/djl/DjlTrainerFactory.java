package io.quarry.djl;

import io.quarry.config.RunConfig;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerFactory;

/** Makes {@link DjlTrainer}s ({@code trainer = djl}); found through {@link java.util.ServiceLoader}. */
public final class DjlTrainerFactory implements TrainerFactory {
  @Override
  public String name() {
    return DjlTrainer.NAME;
  }

  @Override
  public Trainer create(RunConfig config) {
    return new DjlTrainer(config);
  }
}
