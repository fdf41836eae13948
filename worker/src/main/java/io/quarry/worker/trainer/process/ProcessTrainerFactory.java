package io.quarry.worker.trainer.process;

import io.quarry.config.RunConfig;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerFactory;

/** Makes {@link ProcessTrainer}s; selected by {@code trainer = process}. */
public final class ProcessTrainerFactory implements TrainerFactory {
  @Override
  public String name() {
    return ProcessTrainer.NAME;
  }

  @Override
  public Trainer create(RunConfig config) {
    return new ProcessTrainer(config);
  }
}
