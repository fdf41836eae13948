package io.quarry.worker.trainer.stub;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.worker.trainer.TrainerFactory;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

class StubTrainerFactoryTest {
  @Test
  void stubFactoryIsFoundByServiceLoaderUnderItsName() {
    TrainerFactory stub = ServiceLoader.load(TrainerFactory.class).stream()
        .map(ServiceLoader.Provider::get)
        .filter(f -> f.name().equals("stub"))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no TrainerFactory named 'stub' on the class path"));
    assertInstanceOf(StubTrainer.class, stub.create(RunConfig.fromOverrides(List.of(), Map.of())));
    assertTrue(stub instanceof StubTrainerFactory);
  }
}
