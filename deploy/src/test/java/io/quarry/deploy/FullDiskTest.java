package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarry.coordinator.run.Tmpfs;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.RunState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code quarry local} in a JVM of its own, its runs directory on a 3 MB tmpfs that the run fills (as a new user's
 * first try did): it must end within a bound, exit 1 and say why, with the run store and the run directory agreeing.
 * The test mounts the tmpfs itself, as root; it fails if it cannot.
 *
 * <p>The run's telemetry fills the disk first; that alone is dropped and counted and need not end the run (dropped
 * telemetry leaves room for a while). So once the run says it drops telemetry, the test takes what room is left, as
 * another program on the disk would: from then on nothing new fits, and the run must fail.
 */
class FullDiskTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long BOUND_S = 120;
  private static final String[] RUN = {"--trainer", "stub", "--workers", "2", "--run-id", "full", "epochs=3",
      "stub.samples=200000", "stub.step-time=1ms"};

  @TempDir Path work;

  /**
   * Runs {@code quarry local RUN args} with its runs directory on {@code disk}, fills the disk up once the run drops
   * telemetry, and waits for the end; returns its exit code.
   */
  private int quarryLocal(NodeProcesses nodes, Tmpfs disk, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("local", "--runs-dir", disk.dir().toString()));
    command.addAll(List.of(args));
    command.addAll(List.of(RUN));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(BOUND_S);
    Process process = nodes.start("local", Map.of(), command.toArray(String[]::new));
    nodes.awaitLog("local", "telemetry that cannot be written is dropped", Duration.ofSeconds(BOUND_S));
    disk.fill(0);
    if (!process.waitFor(deadline - System.nanoTime(), TimeUnit.NANOSECONDS)) {
      throw new AssertionError("quarry local did not end within " + BOUND_S + " s:\n" + nodes.tail("local"));
    }
    return process.exitValue();
  }

  /** The reason {@code quarry local} printed for the run's failure. */
  private static String printedReason(NodeProcesses nodes) {
    String output = nodes.logText("local");
    assertTrue(output.contains("run full failed"), nodes.tail("local"));
    return output.lines().filter(line -> line.startsWith("reason: ")).findFirst()
        .map(line -> line.substring("reason: ".length()))
        .orElseThrow(() -> new AssertionError("no reason printed:\n" + nodes.tail("local")));
  }

  /** Every event the run could write, parsed: a line cut short fails the test. */
  private static List<JsonNode> events(Path runDir) throws Exception {
    String text = Files.readString(runDir.resolve("events.jsonl"));
    assertTrue(text.endsWith("\n"), "events.jsonl ends in a line cut short");
    List<JsonNode> events = new ArrayList<>();
    for (String line : text.lines().toList()) events.add(JSON.readTree(line));
    return events;
  }

  @Test
  void aRunThatFillsItsDiskFailsSayingSoAndTheStoreOnAnotherDiskRecordsWhy() throws Exception {
    String storeUrl = "sqlite:" + work.resolve("quarry.db");
    try (Tmpfs disk = Tmpfs.mount(work, "3m"); NodeProcesses nodes = new NodeProcesses(work.resolve("logs"))) {
      int exit = quarryLocal(nodes, disk, "--store", storeUrl);

      assertEquals(QuarryCli.EXIT_FAILED, exit, nodes.tail("local"));
      String reason = printedReason(nodes);
      assertTrue(reason.contains("No space left on device"), reason);
      try (RunStore store = RunStores.open(storeUrl)) {
        RunRecord stored = store.run("full").orElseThrow();
        assertEquals(RunState.FAILED, stored.status());
        assertEquals(reason, stored.failureReason(), "the store says what the client said");
      }
      List<JsonNode> events = events(disk.dir().resolve("full"));
      assertEquals("run_submitted", events.get(0).get("type").asText());
      for (JsonNode completed : events) {
        if (!completed.get("type").asText().equals("run_completed")) continue;
        assertEquals("failed", completed.get("status").asText());
        assertEquals(reason, completed.get("reason").asText());
      }
    }
  }

  @Test
  void aRunWhoseStoreSharesTheFullDiskStillEndsAndTheClientExits() throws Exception {
    try (Tmpfs disk = Tmpfs.mount(work, "3m"); NodeProcesses nodes = new NodeProcesses(work.resolve("logs"))) {
      int exit = quarryLocal(nodes, disk);

      assertEquals(QuarryCli.EXIT_FAILED, exit, nodes.tail("local"));
      String reason = printedReason(nodes);
      assertTrue(reason.contains("No space left on device"), reason);
      events(disk.dir().resolve("full"));
      try (RunStore store = RunStores.open(LocalCluster.defaultStoreUrl(disk.dir()))) {
        RunRecord stored = store.run("full").orElseThrow();
        // The store may have had no room for the end either: then it says so in the log, and the run stays
        // unfinished in the store (the next coordinator on it resumes it from its checkpoints).
        if (stored.status() == RunState.FAILED) {
          assertEquals(reason, stored.failureReason());
        } else {
          assertTrue(nodes.logText("local").contains("cannot record the run's end (failed) in the store"),
              stored.status() + "\n" + nodes.tail("local"));
        }
      }
    }
  }
}
