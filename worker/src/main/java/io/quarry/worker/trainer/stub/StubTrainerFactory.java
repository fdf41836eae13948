package io.quarry.worker.trainer.stub;

import io.quarry.config.RunConfig;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerFactory;

/** Makes {@link StubTrainer}s; selected by {@code trainer = stub}. */
public final class StubTrainerFactory implements TrainerFactory {
  @Override
  public String name() {
    return StubTrainer.NAME;
  }

  @Override
  public Trainer create(RunConfig config) {
    return new StubTrainer(config);
  }
}
