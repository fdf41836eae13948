package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run directory on a disk that fills: nothing thrown, only complete lines, telemetry dropped and counted. */
class RunDirectoryTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path runsDir;

  private static ObjectNode event(String type, int n) {
    ObjectNode event = JSON.createObjectNode();
    event.put("type", type);
    event.put("run_id", "r");
    event.put("n", n);
    return event;
  }

  private static String row(int n) {
    return n + ",0,w,0,train,1.0,0.1,100.0,," + n + "\n";
  }

  /** Every line of {@code file}, parsed: a line cut short fails the test. */
  private static List<JsonNode> lines(Path file) throws IOException {
    String text = Files.readString(file);
    assertTrue(text.isEmpty() || text.endsWith("\n"), file + " ends in a line cut short");
    List<JsonNode> lines = new ArrayList<>();
    for (String line : text.lines().toList()) lines.add(JSON.readTree(line));
    return lines;
  }

  @Test
  void telemetryThatCannotBeWrittenIsDroppedAndCountedWhileLifecycleRecordsGoOn() throws IOException {
    FailingFiles files = new FailingFiles();
    RunDirectory directory = RunDirectory.create(runsDir, "r", "epochs = 1", files);
    List<String> told = new ArrayList<>();
    directory.whenUnwritable(told::add);
    files.fail("scalars.csv", FailingFiles.Failure.DISK_FULL);

    directory.appendTelemetry(event("step", 1), row(1));
    directory.appendTelemetry(event("epoch", 1), null);
    RunDirectory.Unwritten unwritten = directory.flushTelemetry();
    directory.writeEvent(event("shard_completed", 2));
    directory.close();

    assertEquals(1, unwritten.lines(), "the scalars row");
    assertEquals("cannot write the run directory " + runsDir.resolve("r") + " (scalars.csv): No space left on device",
        unwritten.reason());
    assertEquals(List.of("step", "epoch", "shard_completed"),
        lines(runsDir.resolve("r/events.jsonl")).stream().map(e -> e.get("type").asText()).toList());
    assertTrue(directory.failure().isEmpty(), "telemetry is not the run's own record");
    assertEquals(List.of(), told);
  }

  @Test
  void aLifecycleRecordThatCannotBeWrittenFailsTheDirectoryOnceAndLaterRecordsAreStillTried() throws IOException {
    FailingFiles files = new FailingFiles();
    RunDirectory directory = RunDirectory.create(runsDir, "r", "epochs = 1", files);
    List<String> told = new ArrayList<>();
    directory.whenUnwritable(told::add);
    directory.writeEvent(event("run_submitted", 0));

    files.fail("events.jsonl", FailingFiles.Failure.DISK_FULL);
    directory.writeEvent(event("shard_failed", 1));
    directory.writeEvent(event("shard_retried", 2));
    files.fail("hard_examples.jsonl", FailingFiles.Failure.DISK_FULL);
    directory.writeMerge(event("merge", 3));
    files.recover("events.jsonl");
    directory.writeEvent(event("run_completed", 4));
    directory.close();

    String reason = "cannot write the run directory " + runsDir.resolve("r") + " (events.jsonl): No space left on device";
    assertEquals(List.of(reason), told, "told once, of the first");
    assertEquals(reason, directory.failure().orElseThrow());
    assertEquals(List.of("run_submitted", "run_completed"),
        lines(runsDir.resolve("r/events.jsonl")).stream().map(e -> e.get("type").asText()).toList(),
        "what could be written was");
  }

  @Test
  void onAFullDiskEveryFileKeepsOnlyCompleteLinesAndTakesLinesAgainOnceThereIsRoom() throws Exception {
    try (Tmpfs disk = Tmpfs.mount(runsDir, "1m")) {
      RunDirectory directory = RunDirectory.create(disk.dir(), "r", "epochs = 1");
      List<String> told = new ArrayList<>();
      directory.whenUnwritable(told::add);
      Path filler = disk.fill(64 * 1024);

      long written = 0;
      RunDirectory.Unwritten unwritten = RunDirectory.Unwritten.NONE;
      for (int batch = 0; batch < 10_000 && unwritten.lines() == 0; batch++) {
        for (int i = 0; i < 50; i++) directory.appendTelemetry(event("step", batch * 50 + i), row(batch * 50 + i));
        unwritten = directory.flushTelemetry();
        if (unwritten.lines() == 0) written += 50;
      }
      // Small lines still fit for a while (a failed batch takes nothing); then the disk is full for them too.
      int lifecycle = 0;
      while (directory.failure().isEmpty() && lifecycle < 100_000) directory.writeEvent(event("shard_failed", lifecycle++));

      assertTrue(unwritten.lines() > 0, "the disk never filled");
      assertTrue(unwritten.reason().endsWith("No space left on device"), unwritten.reason());
      assertTrue(directory.failure().orElseThrow().endsWith("(events.jsonl): No space left on device"),
          directory.failure().orElseThrow());
      assertEquals(1, told.size());
      List<JsonNode> events = lines(disk.dir().resolve("r/events.jsonl"));
      // The last batch's events went in when only its scalars rows found no room (the reason names the first file).
      long lastBatchEvents = unwritten.reason().contains("(scalars.csv)") ? 50 : 0;
      assertEquals(written + lastBatchEvents + lifecycle - 1, events.size(), "every line written, and only those");
      assertTrue(Files.readString(disk.dir().resolve("r/scalars.csv")).endsWith("\n"), "a row cut short");

      Files.delete(filler);
      directory.writeEvent(event("run_completed", -2));
      directory.close();

      List<JsonNode> after = lines(disk.dir().resolve("r/events.jsonl"));
      assertEquals("run_completed", after.get(after.size() - 1).get("type").asText());
      assertEquals(events.size() + 1, after.size());
    }
  }
}
