package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class LearningRateTest {
  @Test
  void constantIsTheBaseRate() {
    LearningRate lr = new LearningRate(0.1, "constant", 0, 1000, 0.1, 100);
    assertEquals(0.1f, lr.at(0));
    assertEquals(0.1f, lr.at(99));
  }

  @Test
  void stepDecaysEveryDecayEverySteps() {
    LearningRate lr = new LearningRate(1.0, "step", 0, 10, 0.5, 100);
    assertEquals(1.0f, lr.at(9));
    assertEquals(0.5f, lr.at(10));
    assertEquals(0.25f, lr.at(25));
  }

  @Test
  void cosineFallsFromTheBaseToZeroAtTheLastStep() {
    LearningRate lr = new LearningRate(1.0, "cosine", 0, 1000, 0.1, 101);
    assertEquals(1.0f, lr.at(0), 1e-6);
    assertEquals(0.5f, lr.at(50), 1e-6);
    assertEquals(0.0f, lr.at(100), 1e-6);
  }

  @Test
  void warmUpRampsLinearlyThenTheScheduleTakesOver() {
    LearningRate lr = new LearningRate(1.0, "cosine", 10, 1000, 0.1, 111);
    assertEquals(0.1f, lr.at(0), 1e-6);
    assertEquals(0.5f, lr.at(4), 1e-6);
    assertEquals(1.0f, lr.at(10), 1e-6);
    assertEquals(0.5f, lr.at(60), 1e-6);
    assertEquals(0.0f, lr.at(110), 1e-6);
    LearningRate constant = new LearningRate(0.2, "constant", 4, 1000, 0.1, 100);
    assertEquals(0.1f, constant.at(1), 1e-6);
    assertEquals(0.2f, constant.at(3), 1e-6);
  }
}
