package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RunAlertsTest {
  private static final long MINUTE = 60_000;

  @Test
  void aNaNLossAfterAFiniteOneRaisesOneAlertPerShard() {
    RunAlerts alerts = new RunAlerts(10 * MINUTE, 0);
    assertTrue(alerts.progressed(0, "w0", 1, Float.NaN, 0, 1).isEmpty(), "NaN before the first loss: no loss yet");
    assertTrue(alerts.progressed(0, "w0", 2, 1.5f, 0, 2).isEmpty());
    Optional<RunAlerts.Alert> alert = alerts.progressed(0, "w0", 3, Float.NaN, 0, 3);
    assertTrue(alert.isPresent());
    assertEquals(RunAlerts.NONFINITE_LOSS, alert.get().kind());
    assertEquals(0, alert.get().shard());
    assertEquals(3, alert.get().step());
    assertTrue(alert.get().message().contains("shard 0 on w0"), alert.get().message());
    assertTrue(alerts.progressed(0, "w0", 4, Float.NaN, 0, 4).isEmpty(), "once per shard");
    assertTrue(alerts.progressed(1, "w1", 4, Float.POSITIVE_INFINITY, 0, 4).isPresent(), "another shard, infinite");
  }

  @Test
  void newNonFiniteSampleLossesCountedByTheWorkerRaiseAnAlert() {
    RunAlerts alerts = new RunAlerts(0, 0);
    assertTrue(alerts.progressed(2, "w0", 5, 0.7f, 0, 1).isEmpty());
    Optional<RunAlerts.Alert> alert = alerts.progressed(2, "w0", 6, 0.7f, 3, 2);
    assertTrue(alert.isPresent());
    assertTrue(alert.get().message().contains("3 non-finite"), alert.get().message());
  }

  @Test
  void aRunWhoseRunningShardsDoNotAdvanceForStalledAfterRaisesOneAlertUntilOneAdvances() {
    RunAlerts alerts = new RunAlerts(MINUTE, 0);
    alerts.progressed(0, "w0", 10, 1f, 0, 1_000);
    assertTrue(alerts.check(List.of(0), 10, 1_000 + MINUTE - 1).isEmpty());
    Optional<RunAlerts.Alert> stalled = alerts.check(List.of(0), 10, 1_000 + MINUTE);
    assertTrue(stalled.isPresent());
    assertEquals(RunAlerts.STALLED, stalled.get().kind());
    assertEquals(-1, stalled.get().shard());
    assertTrue(alerts.check(List.of(0), 10, 1_000 + 5 * MINUTE).isEmpty(), "once");
    alerts.progressed(0, "w0", 10, 1f, 0, 1_000 + 6 * MINUTE);
    assertTrue(alerts.check(List.of(0), 10, 1_000 + 8 * MINUTE).isEmpty(), "a report without an advance re-arms nothing");
  }

  @Test
  void aStallIsRearmedOnceAShardAdvancesAndNeverRaisedWithoutRunningShardsOrWhenOff() {
    RunAlerts alerts = new RunAlerts(MINUTE, 0);
    assertTrue(alerts.check(List.of(0), 0, MINUTE).isPresent());
    alerts.progressed(0, "w0", 1, 1f, 0, 2 * MINUTE);
    assertTrue(alerts.check(List.of(0), 1, 2 * MINUTE + 1).isEmpty());
    assertTrue(alerts.check(List.of(0), 1, 3 * MINUTE).isPresent(), "re-armed by the advance");
    assertTrue(alerts.check(List.of(), 1, 10 * MINUTE).isEmpty(), "nothing running: nothing stalls");
    assertTrue(new RunAlerts(0, 0).check(List.of(0), 0, 100 * MINUTE).isEmpty(), "stalled-after = 0: off");
  }
}
