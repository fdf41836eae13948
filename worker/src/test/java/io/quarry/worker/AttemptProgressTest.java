package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.worker.telemetry.TelemetryEmitter;
import org.junit.jupiter.api.Test;

/** How far an attempt has come, from what its trainer reports: plain logic. */
class AttemptProgressTest {
  @Test
  void startsAtTheResumeStepWithNothingOfferedAndNoLoss() {
    AttemptProgress progress = new AttemptProgress(30);
    assertEquals(30, progress.step());
    assertEquals(0, progress.samples());
    assertEquals(0, progress.stepsOffered());
    assertTrue(Float.isNaN(progress.loss()));
  }

  @Test
  void theStepIsTheStepsDoneAndOnlyEverRises() {
    AttemptProgress progress = new AttemptProgress(0);
    progress.offered(5, 8);
    assertEquals(6, progress.step(), "an offer at step index 5: six steps done");
    progress.reached(4);
    assertEquals(6, progress.step(), "an older checkpoint does not move it back");
    progress.reached(10);
    assertEquals(10, progress.step());
    progress.offered(10, 8);
    assertEquals(11, progress.step());
    assertEquals(16, progress.samples());
    assertEquals(2, progress.stepsOffered());
  }

  @Test
  void theObservedEmitterSeesStepsAndLossesThatFastModeSendsNowhere() {
    AttemptProgress progress = new AttemptProgress(0);
    TelemetryEmitter telemetry = progress.observing(TelemetryEmitter.DISABLED);

    assertTrue(telemetry.step(7, 0, 0.75f, 0.1f, 100f));
    assertEquals(8, progress.step());
    assertEquals(0.75f, progress.loss());
    telemetry.epoch(9, 0, 0.8f);
    telemetry.eval(12, 1, 0.9f, 0.5f);
    assertEquals(13, progress.step());
    assertEquals(0.75f, progress.loss(), "only step events carry the step loss");
    assertEquals(0, telemetry.droppedEvents());
  }
}
