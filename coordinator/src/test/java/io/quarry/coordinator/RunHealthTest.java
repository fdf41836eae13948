package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.run.RunAlerts;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.RunTotals;
import io.quarry.coordinator.run.ShardPlan;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.protocol.RunCommand.ShardProgressed;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The run's health from lifecycle reports alone, on a clock the test moves: stragglers, stalls, non-finite losses. */
class RunHealthTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A clock that moves only when told. */
  private static final class TestClock extends Clock {
    long nowMs;

    @Override
    public long millis() {
      return nowMs;
    }

    @Override
    public Instant instant() {
      return Instant.ofEpochMilli(nowMs);
    }

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }

  @TempDir Path runs;
  private final TestClock clock = new TestClock();
  private RunDirectory directory;
  private int directories;

  @AfterEach
  void close() {
    if (directory != null) directory.close();
  }

  private RunHealth health(ShardTable shards, RunProgress progress, String... overrides) throws Exception {
    RunConfig config = RunConfig.fromOverrides(List.of(overrides), Map.of());
    directory = RunDirectory.create(runs, "r" + (++directories), config.toHocon());
    return new RunHealth("r1", config, shards, directory, new RunRecords("r1", clock), progress, clock,
        LoggerFactory.getLogger(RunHealthTest.class));
  }

  /** {@code count} shards, each assigned and running its first attempt. */
  private static ShardTable running(int count) {
    ShardTable shards = new ShardTable(ShardPlan.plan(300 * count, count), 10, 100, 3);
    for (int i = 0; i < count; i++) {
      shards.assign(i, "w" + i);
      shards.started(i, 1, "w" + i);
    }
    return shards;
  }

  private List<JsonNode> events(String type) throws Exception {
    List<JsonNode> found = new ArrayList<>();
    for (String line : Files.readAllLines(directory.path().resolve("events.jsonl"))) {
      JsonNode event = JSON.readTree(line);
      if (event.path("type").asText().equals(type)) found.add(event);
    }
    return found;
  }

  @Test
  void aShardFallingBehindTheOthersForTheWindowIsReportedOnceAsAStraggler() throws Exception {
    ShardTable shards = running(3);
    RunHealth health = health(shards, new RunProgress(0, 0, RunTotals.ZERO), "stragglers.factor=2.0",
        "stragglers.window=1s");
    List<Long> foundAt = new ArrayList<>();
    for (clock.nowMs = 0; clock.nowMs <= 4_000; clock.nowMs += 100) {
      health.pace(0, 1, clock.nowMs / 10);
      health.pace(1, 1, clock.nowMs / 10);
      health.pace(2, 1, clock.nowMs / 50);
      health.pace(2, 7, clock.nowMs); // not the shard's attempt: a copy's pace is not judged
      if (clock.nowMs % 500 == 0) {
        RunHealth.Checked checked = health.check();
        assertFalse(checked.alerted());
        for (int i = 0; i < checked.stragglers(); i++) foundAt.add(clock.nowMs);
      }
    }
    assertEquals(1, foundAt.size(), "reported once: " + foundAt);
    assertTrue(foundAt.get(0) >= 1_000, "not before it was slow for the window: " + foundAt);
    assertTrue(health.isStraggler(2));
    assertFalse(health.isStraggler(0));
    List<JsonNode> stragglers = events("straggler");
    assertEquals(1, stragglers.size(), stragglers.toString());
    assertEquals(2, stragglers.get(0).path("shard").asInt());
    assertEquals("w2", stragglers.get(0).path("worker_id").asText());
  }

  @Test
  void aRunWhoseRunningShardsDoNotAdvanceRaisesOneStalledAlertCounted() throws Exception {
    RunProgress progress = new RunProgress(0, 0, RunTotals.ZERO);
    RunHealth health = health(running(2), progress, "alerts.stalled-after=2s");
    clock.nowMs = 1_000;
    assertEquals(new RunHealth.Checked(0, false), health.check());
    clock.nowMs = 2_500;
    assertEquals(new RunHealth.Checked(0, true), health.check());
    clock.nowMs = 9_000;
    assertEquals(new RunHealth.Checked(0, false), health.check(), "once, until a shard advances again");
    assertEquals(1, progress.counters().get(RunCounter.ALERTS));
    assertEquals(List.of("stalled"), events("alert").stream().map(e -> e.path("kind").asText()).toList());
  }

  @Test
  void aNonFiniteLossIsAnAlertThatStopsTheRunOnlyWhenAskedTo() throws Exception {
    RunCounters none = RunCounters.ZERO;
    RunHealth watching = health(running(1), new RunProgress(0, 0, RunTotals.ZERO));
    assertTrue(watching.progressed(new ShardProgressed("r1", 0, 1, "w0", 5, 50, 0.5f, none)).isEmpty());
    RunAlerts.Alert alert = watching.progressed(new ShardProgressed("r1", 0, 1, "w0", 6, 60, Float.NaN, none))
        .orElseThrow();
    assertEquals(RunAlerts.NONFINITE_LOSS, alert.kind());
    assertFalse(watching.stops(alert), "alerts.stop-on-nonfinite is off by default");
    directory.close();

    RunHealth stopping = health(running(1), new RunProgress(0, 0, RunTotals.ZERO), "alerts.stop-on-nonfinite=on");
    assertTrue(stopping.stops(stopping.progressed(
        new ShardProgressed("r1", 0, 1, "w0", 6, 60, Float.POSITIVE_INFINITY, none)).orElseThrow()));
  }
}
