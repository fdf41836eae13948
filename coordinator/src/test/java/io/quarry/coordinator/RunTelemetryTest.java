package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.coordinator.run.FailingFiles;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.RunTotals;
import io.quarry.protocol.RunCommand.TelemetryBatch;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.TelemetryEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The run's telemetry: each batch written once, and what the directory cannot take counted, never fatal. */
class RunTelemetryTest {
  @TempDir Path runs;
  private final FailingFiles files = new FailingFiles();
  private final RunProgress progress = new RunProgress(0, 0, RunTotals.ZERO);

  private static TelemetryBatch batch(long seq, long... steps) {
    List<TelemetryEvent> events = java.util.Arrays.stream(steps)
        .mapToObj(step -> (TelemetryEvent) new TelemetryEvent.Step(1_000L * step, 0, step, 0, 0.5f, 0.1f, 100f))
        .toList();
    return new TelemetryBatch("r1", "w0", 0, 1, seq, events, null);
  }

  private static long stepRows(RunDirectory directory) throws Exception {
    return Files.readAllLines(directory.path().resolve("scalars.csv")).size() - 1; // less the header
  }

  @Test
  void aBatchSentAgainIsWrittenOnce() throws Exception {
    RunDirectory directory = RunDirectory.create(runs, "r1", "", files);
    RunTelemetry telemetry = new RunTelemetry("r1", directory, new RunRecords("r1", Clock.systemUTC()), progress,
        LoggerFactory.getLogger(RunTelemetryTest.class));
    assertFalse(telemetry.batch(batch(1, 10, 20)));
    assertFalse(telemetry.batch(batch(1, 10, 20)), "the same batch again (its acknowledgement was lost)");
    assertFalse(telemetry.batch(batch(2, 30)));
    assertEquals(3, stepRows(directory));
    assertEquals(0, progress.counters().get(RunCounter.TELEMETRY_UNWRITTEN));
    directory.close();
  }

  @Test
  void linesTheDirectoryCannotTakeAreCountedAndTheNextOnesWrittenOnceItCanAgain() throws Exception {
    RunDirectory directory = RunDirectory.create(runs, "r1", "", files);
    RunTelemetry telemetry = new RunTelemetry("r1", directory, new RunRecords("r1", Clock.systemUTC()), progress,
        LoggerFactory.getLogger(RunTelemetryTest.class));
    files.fail("scalars.csv", FailingFiles.Failure.DISK_FULL);
    assertTrue(telemetry.batch(batch(1, 10, 20)), "dropped lines change the run's counters");
    long dropped = progress.counters().get(RunCounter.TELEMETRY_UNWRITTEN);
    assertTrue(dropped >= 2, "at least the two scalar rows: " + dropped);
    files.recover("scalars.csv");
    assertFalse(telemetry.batch(batch(2, 30)));
    assertEquals(dropped, progress.counters().get(RunCounter.TELEMETRY_UNWRITTEN));
    assertEquals(1, stepRows(directory));
    directory.close();
  }
}
