package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Run files, --multirun sweeps, --quiet and --json of {@code quarry local}. */
@Timeout(240)
class SweepCliTest extends CliCapture {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path tmp;

  private Path runs() {
    return tmp.resolve("runs");
  }

  @Test
  void splitsOnlyOnTopLevelCommas() {
    assertEquals(List.of("1", "[2,3]", "\"a,b\"", "{x=1,y=2}"), Sweep.splitTopLevel("1,[2,3],\"a,b\",{x=1,y=2}"));
    assertEquals(List.of("[0,1]"), Sweep.splitTopLevel("[0,1]"));
  }

  @Test
  void expandsToTheCartesianProductFirstKeySlowest() {
    Sweep sweep = Sweep.expand(List.of("epochs=1,2", "seed=7", "batch-size=16,32,64"));
    assertEquals(List.of("epochs", "batch-size"), sweep.sweptKeys);
    assertEquals(6, sweep.points.size());
    assertEquals(List.of("epochs=1", "seed=7", "batch-size=16"), sweep.points.get(0).overrides());
    assertEquals(List.of("epochs=1", "seed=7", "batch-size=64"), sweep.points.get(2).overrides());
    assertEquals(List.of("epochs=2", "seed=7", "batch-size=16"), sweep.points.get(3).overrides());
    assertEquals("s-5", sweep.points.get(5).runId("s"));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
    "epochs=1,2 hard-examples.kk=3       | unknown config key 'hard-examples.kk' (did you mean 'hard-examples.k'?)",
    "epochs=1,2 batch-size=big           | config key 'batch-size': invalid value \"big\"",
    "epochs=1,0                          | config key 'epochs': invalid value 0; allowed: an integer from 1",
    "trainer=stub,jax                    | config key 'trainer': invalid value \"jax\"; allowed: one of djl, linear-sgd, process, stub",
    "epochs=1,2 epochs                   | override 'epochs' is not of the form key=value",
    "epochs=1,2 stub.fault-shards=[0,x]  | config key 'stub.fault-shards': invalid value [0,\"x\"]",
    "epochs=1,2 stub.fault-shards=[0,2   | config key 'stub.fault-shards': invalid value \"[0,2\"",
    "stub.hard-fraction=0.1,1.5          | config key 'stub.hard-fraction': invalid value 1.5; allowed: a number from 0 to 1",
  })
  void aBadValueInAnyCombinationExitsTwoAndWritesNothing(String overrides, String message) {
    List<String> args = new ArrayList<>(List.of("local", "--trainer", "stub", "--multirun", "--runs-dir", runs().toString(), "--run-id", "bad"));
    args.addAll(List.of(overrides.split(" ")));

    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run(args.toArray(String[]::new)));
    assertTrue(stderr().contains(message), stderr());
    assertEquals(1, stderr().strip().lines().count(), "one line: " + stderr());
    assertFalse(Files.exists(runs()), "no run directory");
    assertFalse(Files.exists(tmp.resolve("sweeps")), "no sweep directory");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
    "hard-examples.kk=3      | unknown config key 'hard-examples.kk' (did you mean 'hard-examples.k'?)",
    "epochs=many             | config key 'epochs': invalid value \"many\"",
    "epochs=0                | config key 'epochs': invalid value 0",
    "trainer=jax             | config key 'trainer': invalid value \"jax\"",
    "stub.fault-shards=[a]   | config key 'stub.fault-shards': invalid value [\"a\"]",
    "=3                      | override '=3' is not of the form key=value",
  })
  void aBadOverrideOfARunFileExitsTwoAndWritesNothing(String override, String message) throws Exception {
    Files.writeString(tmp.resolve("run.conf"), "epochs = 2\n");
    int exit = QuarryCli.run("local", "--trainer", "stub", "--runs-dir", runs().toString(), tmp.resolve("run.conf").toString(), override);

    assertEquals(QuarryCli.EXIT_USAGE, exit);
    assertTrue(stderr().contains(message), stderr());
    assertEquals(1, stderr().strip().lines().count(), "one line: " + stderr());
    assertFalse(Files.exists(runs()));
  }

  @Test
  void anUnknownSortColumnIsBadUsage() {
    assertEquals(2, QuarryCli.run("local", "--trainer", "stub", "--multirun", "--runs-dir", runs().toString(), "--sort", "accuracy", "epochs=1,2"));
    assertTrue(stderr().contains("--sort: unknown column 'accuracy'"), stderr());
    assertFalse(Files.exists(runs()));
  }

  @Test
  void aRunFileWithAnIncludeRunsWithItsOverrides() throws Exception {
    Files.writeString(tmp.resolve("base.conf"), "stub.samples = 200\nstub.step-time = 0\n");
    Files.writeString(tmp.resolve("run.conf"), "include \"base.conf\"\nepochs = 3\n");
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "1", "--run-id", "file", "--runs-dir", runs().toString(),
        tmp.resolve("run.conf").toString(), "epochs=1");

    assertEquals(0, exit, stderr());
    String conf = Files.readString(runs().resolve("file/run.conf"));
    assertEquals(1, io.quarry.config.RunConfig.parse(conf).epochs);
    assertEquals(200, io.quarry.config.RunConfig.parse(conf).raw().getLong("stub.samples"));
  }

  @Test
  void aTwoByThreeSweepRunsSixRunsAndWritesTheSummary() throws Exception {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "2", "--multirun", "--run-id", "sw", "--runs-dir", runs().toString(),
        "--sort", "-val_accuracy", "epochs=1,2", "stub.step-time=0", "stub.samples=200", "batch-size=10,20,50");

    assertEquals(0, exit, stderr());
    for (int n = 0; n < 6; n++) assertTrue(Files.isRegularFile(runs().resolve("sw-" + n + "/events.jsonl")), "sw-" + n);
    assertFalse(Files.exists(runs().resolve("sw-6")));

    List<String> csv = Files.readAllLines(tmp.resolve("sweeps/sw/summary.csv"));
    assertEquals("run_id,epochs,batch-size,status,final_loss,val_accuracy,wall_s,steps", csv.get(0));
    assertEquals(7, csv.size(), String.join("\n", csv));
    String[][] expected = {{"1", "10"}, {"1", "20"}, {"1", "50"}, {"2", "10"}, {"2", "20"}, {"2", "50"}};
    for (int n = 0; n < 6; n++) {
      String[] cells = csv.get(n + 1).split(",", -1);
      assertEquals("sw-" + n, cells[0]);
      assertEquals(expected[n][0], cells[1]);
      assertEquals(expected[n][1], cells[2]);
      assertEquals("completed", cells[3]);
      JsonNode completed = new RunFiles(runs().resolve("sw-" + n)).runCompleted();
      assertEquals(completed.get("final_loss").asDouble(), Double.parseDouble(cells[4]), 1e-5);
      List<JsonNode> evals = new RunFiles(runs().resolve("sw-" + n)).events("eval");
      assertEquals(evals.get(evals.size() - 1).get("val_accuracy").asDouble(), Double.parseDouble(cells[5]), 1e-5);
      assertEquals(completed.get("steps").asLong(), Long.parseLong(cells[7]));
      // 2 shards x 100 samples / batch x epochs
      assertEquals(2L * (long) Math.ceil(100.0 / Integer.parseInt(cells[2])) * Integer.parseInt(cells[1]),
          Long.parseLong(cells[7]));
    }

    // The table: header, then the six runs by val_accuracy, highest first.
    List<String> table = stdout().lines().dropWhile(l -> !l.startsWith("run_id")).toList();
    assertTrue(table.get(0).matches("run_id\\s+epochs\\s+batch-size\\s+status\\s+final_loss\\s+val_accuracy\\s+wall_s\\s+steps"),
        table.get(0));
    List<Double> accuracies = new ArrayList<>();
    for (String row : table.subList(1, 7)) accuracies.add(Double.parseDouble(row.trim().split("\\s+")[5]));
    List<Double> sorted = new ArrayList<>(accuracies);
    sorted.sort(java.util.Comparator.reverseOrder());
    assertEquals(sorted, accuracies, stdout());
    assertTrue(table.get(7).startsWith("sweep sw: 6 of 6 run(s) completed"), table.get(7));
  }

  @Test
  void jsonPrintsOneJsonObjectPerLine() throws Exception {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "1", "--json", "--multirun", "--run-id", "js", "--runs-dir",
        runs().toString(), "stub.step-time=1ms", "stub.samples=100", "batch-size=5", "epochs=1,2");

    assertEquals(0, exit, stderr());
    List<String> types = new ArrayList<>();
    for (String line : stdout().strip().lines().toList()) {
      JsonNode node = JSON.readTree(line);
      assertTrue(node.isObject(), line);
      types.add(node.get("type").asText());
      if (node.get("type").asText().equals("run_completed")) {
        assertTrue(node.has("final_loss") && node.has("steps") && node.has("status") && node.has("wall_ms"), line);
      }
    }
    assertTrue(types.contains("progress"), types.toString());
    assertEquals(2, types.stream().filter("run_completed"::equals).count(), types.toString());
    assertEquals("sweep_completed", types.get(types.size() - 1));
  }

  @Test
  void quietPrintsOnlyTheSummaryLine() {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "1", "--quiet", "--run-id", "q", "--runs-dir", runs().toString(),
        "stub.step-time=1ms", "stub.samples=100", "batch-size=5", "epochs=1");

    assertEquals(0, exit, stderr());
    List<String> lines = stdout().strip().lines().toList();
    assertEquals(1, lines.size(), stdout());
    assertTrue(lines.get(0).startsWith("run q completed: 20 steps"), lines.get(0));
  }

  @Test
  void quietSweepPrintsOnlyTheTableAndTheLastLine() {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "1", "--quiet", "--multirun", "--run-id", "qs", "--runs-dir",
        runs().toString(), "stub.step-time=0", "stub.samples=100", "seed=1,2");

    assertEquals(0, exit, stderr());
    List<String> lines = stdout().strip().lines().toList();
    assertEquals(4, lines.size(), stdout());
    assertTrue(lines.get(0).startsWith("run_id") && lines.get(3).startsWith("sweep qs: 2 of 2"), stdout());
  }

  @Test
  void aFailedRunInASweepExitsOne() throws Exception {
    int exit = QuarryCli.run("local", "--trainer", "stub", "--workers", "1", "--multirun", "--run-id", "f", "--runs-dir", runs().toString(),
        "stub.step-time=0", "stub.samples=100", "max-attempts=1", "stub.fail-at-step=-1,2");

    assertEquals(1, exit, stderr());
    List<String> csv = Files.readAllLines(tmp.resolve("sweeps/f/summary.csv"));
    assertTrue(csv.get(1).contains(",completed,") && csv.get(2).contains(",failed,"), String.join("\n", csv));
  }
}
