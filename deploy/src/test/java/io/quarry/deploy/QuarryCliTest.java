package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code quarry local} as a person uses it: exit codes, messages, and nothing written for bad input. */
@Timeout(120)
class QuarryCliTest extends CliCapture {
  @TempDir Path tmp;

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
    "hard-examples.kk=3            | unknown config key 'hard-examples.kk' (did you mean 'hard-examples.k'?)",
    "hard-examples.k=0             | config key 'hard-examples.k': invalid value 0; allowed: an integer from 1",
    "hard-examples.k=many          | config key 'hard-examples.k': invalid value \"many\"",
    "trainer=bogus                 | config key 'trainer': invalid value \"bogus\"; allowed: one of djl, linear-sgd, process, stub",
    "hard-examples.merge-mode=fast | config key 'hard-examples.merge-mode': invalid value \"fast\"; allowed: one of round-robin, top-k",
    "stub.step-time=soon           | config key 'stub.step-time': invalid value \"soon\"",
    "epochs                        | override 'epochs' is not of the form key=value",
  })
  void badConfigExitsTwoWithOneLineNamingTheKeyAndWritesNothing(String override, String message) {
    Path runsDir = tmp.resolve("runs");
    int exit = QuarryCli.run("local", "--trainer", "stub", "--runs-dir", runsDir.toString(), "--run-id", "bad", override);

    assertEquals(QuarryCli.EXIT_USAGE, exit);
    assertTrue(stderr().contains(message), stderr());
    assertEquals(1, stderr().strip().lines().count(), "one line: " + stderr());
    assertFalse(Files.exists(runsDir), "nothing written under the runs directory");
  }

  @Test
  void zeroWorkersIsBadUsage() {
    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run("local", "--trainer", "stub", "--runs-dir", tmp.toString(), "--workers", "0"));
    assertTrue(stderr().contains("--workers: invalid value 0; allowed: an integer from 1 to 1024"), stderr());
  }

  @Test
  void unknownTrainerFlagIsBadConfig() {
    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run("local", "--runs-dir", tmp.toString(), "--trainer", "jax"));
    assertTrue(stderr().contains("config key 'trainer': invalid value \"jax\""), stderr());
  }

  @Test
  void anExistingRunIdIsRefusedBeforeAnythingRuns() throws Exception {
    Files.createDirectories(tmp.resolve("taken"));
    Files.writeString(tmp.resolve("taken/events.jsonl"), "kept\n");
    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run("local", "--trainer", "stub", "--runs-dir", tmp.toString(), "--run-id", "taken"));
    assertTrue(stderr().contains("already exists"), stderr());
    assertEquals("kept\n", Files.readString(tmp.resolve("taken/events.jsonl")));
  }

  @Test
  void helpListsTheOptionsAndEveryRunConfigKey() {
    assertEquals(0, QuarryCli.run("local", "--help"));
    for (String expected : new String[] {"--workers", "--no-telemetry", "--run-id", "--runs-dir", "--trainer",
        "hard-examples.merge-mode", "stub.fail-at-step", "telemetry.enabled"}) {
      assertTrue(stdout().contains(expected), expected);
    }
  }

  @Test
  void aCompletedRunExitsZeroAndPrintsTheSummary() {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "2", "--run-id", "cli", "--runs-dir", tmp.toString(),
        "stub.step-time=0", "stub.samples=500", "epochs=2");

    assertEquals(QuarryCli.EXIT_COMPLETED, exit, stderr());
    String printed = stdout();
    assertTrue(printed.contains("run cli completed: 32 steps"), printed);
    assertTrue(printed.contains("hardest examples"), printed);
    assertEquals(5, printed.lines().filter(l -> l.matches("\\s+[1-5]\\s+\\d+\\s+\\d+\\.\\d+\\s+local-\\d.*")).count(), printed);
    assertTrue(printed.contains("run directory: " + tmp.resolve("cli")), printed);
    assertTrue(Files.exists(tmp.resolve("cli/events.jsonl")));
  }

  @Test
  void aFailedRunExitsOneWithTheReason() {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "1", "--run-id", "boom", "--runs-dir", tmp.toString(),
        "stub.step-time=0", "stub.samples=200", "stub.fail-at-step=2", "max-attempts=1");

    assertEquals(QuarryCli.EXIT_FAILED, exit);
    assertTrue(stdout().contains("run boom failed"), stdout());
    assertTrue(stdout().contains("reason: shard 0 failed 1 time(s)"), stdout());
  }

  @Test
  void noTelemetryFlagRunsInFastMode() throws Exception {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "1", "--run-id", "fast", "--runs-dir", tmp.toString(),
        "--no-telemetry", "stub.step-time=0", "stub.samples=200");

    assertEquals(QuarryCli.EXIT_COMPLETED, exit, stderr());
    assertFalse(Files.readString(tmp.resolve("fast/events.jsonl")).contains("\"type\":\"step\""));
    assertTrue(Files.readString(tmp.resolve("fast/run.conf")).contains("enabled=false"));
  }

  /** The README's main job: without a run file, `quarry local` trains the default job's CNN with DJL. */
  @Test
  void withoutARunFileLocalTrainsTheDefaultJobsCnnAndPrintsAccuracyAndTheHardestExamples() throws Exception {
    int exit = QuarryCli.run("local", "--workers", "2", "--run-id", "main", "--runs-dir", tmp.toString(),
        "epochs=1", "dataset.samples=800");

    assertEquals(QuarryCli.EXIT_COMPLETED, exit, stderr());
    String printed = stdout();
    assertTrue(printed.contains("run main completed"), printed);
    assertTrue(printed.lines().anyMatch(l -> l.matches("validation: accuracy 0\\.\\d{4}, loss \\d+\\.\\d{4}")), printed);
    assertTrue(printed.contains("label") && printed.contains("predicted"), printed);
    io.quarry.config.RunConfig config =
        io.quarry.config.RunConfig.parse(Files.readString(tmp.resolve("main/run.conf")));
    assertEquals("djl", config.trainer);
    assertEquals("cnn", config.raw().getString("model.type"));
    assertEquals("shapes", config.raw().getString("dataset.synthetic"));
    assertTrue(config.sync.average());
    RunFiles files = new RunFiles(tmp.resolve("main"));
    assertFalse(files.events("ring_formed").isEmpty(), "the default job averages on the all-reduce ring");
    assertTrue(files.runCompleted().get("metrics").get("val_accuracy").isNumber());
    try (var pngs = Files.list(tmp.resolve("main/hard_examples"))) {
      assertTrue(pngs.anyMatch(f -> f.getFileName().toString().endsWith(".png")), "thumbnails of the hard examples");
    }
  }
}
