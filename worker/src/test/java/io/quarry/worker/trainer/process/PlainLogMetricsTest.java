package io.quarry.worker.trainer.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PlainLogMetricsTest {
  private final PlainLogMetrics metrics = new PlainLogMetrics(List.of("Grad_Norm"));

  @Test
  void readsEqualsColonAndSpaceSeparatorsInAnyCase() {
    assertEquals(Map.of("epoch", 2.0, "step", 300.0, "loss", 0.12, "lr", 3e-4),
        metrics.parse("Epoch 2 step=300/1000 Loss: 1.2e-1 LR 3E-4"));
  }

  @Test
  void readsScientificAndSignedNumbers() {
    assertEquals(Map.of("loss", -0.5, "val_loss", 32.0, "lr", 1e-4),
        metrics.parse("loss=-0.5, val_loss: 3.2E+01 lr 1e-4"));
    assertEquals(Map.of("loss", 0.5), metrics.parse("loss=+.5"));
    assertTrue(Double.isNaN(metrics.parse("loss: nan").get("loss")));
  }

  @Test
  void valLossIsNotLossAndNamesAreWholeWords() {
    assertEquals(Map.of("val_loss", 0.25), metrics.parse("val_loss=0.25"));
    assertEquals(Map.of(), metrics.parse("train_loss=0.25 lossy 3 steps 4"));
  }

  @Test
  void extraMetricsAreFoundCaseInsensitively() {
    assertEquals(Map.of("grad_norm", 1.5, "step", 7.0), metrics.parse("GRAD_NORM=1.5 step 7"));
  }

  @Test
  void textWithoutMetricsGivesNothing() {
    assertEquals(Map.of(), metrics.parse("Downloading shard 3 of 8 ..."));
    assertEquals(Map.of(), metrics.parse("loss=high"));
  }
}
