package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DDP run ({@code process.distributed = torch}, real PyTorch over Gloo) across a coordinator JVM and worker JVMs on
 * 127.0.0.1: one worker JVM killed with SIGKILL mid-run is a lost rank; the group stops its other rank and restarts
 * from rank 0's checkpoint, on a worker that joins, or (with {@code process.min-ranks = 1} and none joining) with the
 * one rank it has, and completes.
 */
@Timeout(420)
class DdpClusterTest {
  private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
  private static final int CHECKPOINT_EVERY = 10;
  private static final Pattern CHECKSUM = Pattern.compile("param_checksum rank=(\\d+) sum=(\\S+) abs=(\\S+) steps=(\\d+)");

  @TempDir Path dir;
  private NodeProcesses nodes;
  private Map<String, String> env;
  private String python;

  @AfterEach
  void killEverything() {
    if (nodes != null) nodes.close();
  }

  private void startWorker(String name, String seed) throws Exception {
    nodes.start(name, env, "worker", "--seed-nodes", seed, "--devices", "cpu", "--allow-program", python);
    nodes.awaitLog(name, "quarry worker node up", Duration.ofSeconds(90));
    nodes.awaitMemberUp(name, Duration.ofSeconds(90));
  }

  /** A coordinator and two worker JVMs; returns the API client. */
  private ApiClient startCluster() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    env = Map.of("PATH", ExamplesTest.torchPythonFirst(System.getenv("PATH")));
    python = ExamplesTest.onPath("python3", env.get("PATH")).toString();
    int artery = NodeProcesses.freePort();
    int http = NodeProcesses.freePort();
    String seed = "127.0.0.1:" + artery;
    nodes.start("coordinator", env, "coordinator", "--port", "" + artery, "--http-port", "" + http,
        "--runs-dir", dir + "/runs");
    nodes.awaitLog("coordinator", "quarry coordinator node up", Duration.ofSeconds(90));
    startWorker("worker-a", seed);
    startWorker("worker-b", seed);
    String token = ApiClient.token(null, Map.of("QUARRY_RUNS_DIR", dir + "/runs"));
    this.seed = seed;
    return new ApiClient("http://127.0.0.1:" + http, token, null);
  }

  private String seed;

  /**
   * Submits a 2-rank run of the DDP example (1000 samples per rank in batches of 25, 2 epochs: 80 steps of a tenth of
   * a second; checkpoints every 10) with {@code more} overrides, and SIGKILLs rank 1's worker JVM once rank 0 has
   * checkpointed twice. Returns the killed worker's id.
   */
  private String submitAndKillRankOnesJvm(ApiClient api, String runId, String... more) throws Exception {
    List<String> overrides = new java.util.ArrayList<>(List.of("trainer=process", "process.distributed=torch",
        "process.ranks=2", "process.samples=2000",
        "process.command=[\"python3\",\"" + REPO.resolve("examples/pytorch/ddp_train.py") + "\",\"--samples\",\"2000\","
            + "\"--batch-size\",\"25\",\"--epochs\",\"2\",\"--step-delay\",\"0.1\",\"--checkpoint-every\",\""
            + CHECKPOINT_EVERY + "\"]",
        "process.grace=3s", "max-attempts=3", "hard-examples.merge-interval=1s"));
    overrides.addAll(List.of(more));
    api.submit("", overrides, runId);
    JsonNode running = awaitRun(api, runId,
        run -> run.path("shards").get(0).path("checkpoint_step").asLong() >= 2 * CHECKPOINT_EVERY, Duration.ofSeconds(180));
    String victim = running.path("shards").get(1).path("worker_id").asText();
    String upAt = "quarry worker node up at " + victim.substring(0, victim.indexOf('/'));
    String victimNode = nodes.logText("worker-a").contains(upAt) ? "worker-a" : "worker-b";
    assertTrue(nodes.logText(victimNode).contains(upAt), "rank 1's worker is " + victim);
    nodes.kill(victimNode);
    return victim;
  }

  @Test
  void aWorkerJvmKilledMidRunRestartsTheGroupOnAWorkerThatJoinsAndTheRunCompletes() throws Exception {
    ApiClient api = startCluster();
    String victim = submitAndKillRankOnesJvm(api, "ddp-kill-jvm");
    startWorker("worker-c", seed);

    JsonNode done = awaitRun(api, "ddp-kill-jvm", run -> List.of("completed", "failed").contains(run.path("state").asText()),
        Duration.ofSeconds(240));

    assertEquals("completed", done.path("state").asText(), done.toString());
    RunFiles run = new RunFiles(dir.resolve("runs/ddp-kill-jvm"));
    assertEquals(victim, run.events("worker_lost").get(0).path("worker_id").asText());
    List<JsonNode> restarts = run.events("group_restarted");
    assertEquals(1, restarts.size(), restarts.toString());
    JsonNode restart = restarts.get(0);
    // Whichever the run saw first: rank 0's program failing on its dead peer (Gloo's "Connection closed by peer"), or
    // the loss of the victim's worker.
    assertTrue(restart.path("cause").asText().contains("rank 0 failed") || restart.path("cause").asText().contains(victim),
        restart.toString());
    assertTrue(restart.path("resume_step").asLong() >= 2 * CHECKPOINT_EVERY, restart.toString());
    assertTrue(restart.path("steps_lost").asLong() <= CHECKPOINT_EVERY, restart.toString());
    List<JsonNode> groups = run.events("group_started");
    assertEquals(2, groups.size(), groups.toString());
    assertTrue(!groups.get(1).path("workers").toString().contains(victim), "the new group runs without the lost worker");
    double[] sums = new double[2];
    for (int rank = 0; rank < 2; rank++) {
      Matcher matcher = CHECKSUM.matcher(Files.readString(run.dir.resolve("logs/" + rank + ".log")));
      String last = null;
      while (matcher.find()) last = matcher.group(2);
      assertTrue(last != null, "rank " + rank + " printed its checksum");
      sums[rank] = Double.parseDouble(last);
    }
    assertEquals(sums[0], sums[1], "both ranks of the restarted group end identical");
  }

  @Test
  void withMinRanksOneAWorkerJvmKilledMidRunRestartsTheGroupWithOneRankAndTheRunCompletes() throws Exception {
    ApiClient api = startCluster();
    // Quarry's batch-size and epochs as the script's, so that the run's steps are the script's.
    String victim = submitAndKillRankOnesJvm(api, "ddp-elastic", "process.min-ranks=1", "process.last-call=2s",
        "batch-size=25", "epochs=2");

    JsonNode done = awaitRun(api, "ddp-elastic", run -> List.of("completed", "failed").contains(run.path("state").asText()),
        Duration.ofSeconds(240));

    assertEquals("completed", done.path("state").asText(), done.toString());
    RunFiles run = new RunFiles(dir.resolve("runs/ddp-elastic"));
    assertEquals(victim, run.events("worker_lost").get(0).path("worker_id").asText());
    List<JsonNode> restarts = run.events("group_restarted");
    assertEquals(1, restarts.size(), restarts.toString());
    JsonNode restart = restarts.get(0);
    long resumeStep = restart.path("resume_step").asLong(); // rank 0's checkpoint, in steps of the 2-rank group
    assertTrue(resumeStep >= 2 * CHECKPOINT_EVERY, restart.toString());
    assertTrue(restart.path("steps_lost").asLong() <= CHECKPOINT_EVERY, restart.toString());
    List<JsonNode> groups = run.events("group_started");
    assertEquals(2, groups.size(), groups.toString());
    assertEquals(2, groups.get(0).path("world_size").asInt(), groups.toString());
    JsonNode smaller = groups.get(1);
    assertEquals(1, smaller.path("world_size").asInt(), smaller.toString());
    assertEquals(2, smaller.path("ranks").asInt(), smaller.toString());
    assertEquals(1, smaller.path("workers").size(), smaller.toString());
    assertTrue(!smaller.path("workers").toString().contains(victim), "the smaller group runs without the lost worker");
    assertTrue(smaller.path("smaller_because").asText().contains("process.min-ranks = 1"), smaller.toString());
    assertEquals(2 * resumeStep, smaller.path("start_step").asLong(), "the same samples, in steps of one rank");

    // One rank of all 2000 samples in batches of 25, 2 epochs: 160 steps, the run's steps once it ran alone.
    JsonNode completed = run.events("run_completed").get(0);
    assertEquals(160, completed.path("steps").asLong(), completed.toString());
    assertEquals(160, completed.path("total_steps").asLong(), completed.toString());
    assertEquals(160, done.path("steps").asLong(), done.toString());
    long redone = completed.path("steps_redone").asLong();
    assertTrue(redone <= 2 * CHECKPOINT_EVERY, "at most one checkpoint interval of each rank: " + completed);
    long unreported = 160 + redone - completed.path("steps_trained").asLong();
    assertTrue(unreported >= 0 && unreported <= resumeStep + CHECKPOINT_EVERY,
        "steps trained = steps + redone, less only the killed rank's steps, which it never reported: " + completed);
    String rankZero = Files.readString(run.dir.resolve("logs/0.log"));
    assertTrue(rankZero.contains("of world size 2, now 1"), "rank 0 resumed with the new world size");
    Matcher matcher = CHECKSUM.matcher(rankZero);
    String lastSteps = null;
    while (matcher.find()) lastSteps = matcher.group(4);
    assertEquals("160", lastSteps, "the rank alone trained to the end and printed its checksum");
    assertTrue(!Files.readString(run.dir.resolve("logs/1.log")).contains("param_checksum"),
        "rank 1 was killed before its end");
  }

  private static JsonNode awaitRun(ApiClient api, String runId, Predicate<JsonNode> condition, Duration timeout)
      throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    JsonNode last = null;
    while (System.nanoTime() < deadline) {
      try {
        last = api.run(runId);
        if (condition.test(last)) return last;
      } catch (java.io.IOException e) {
        // not there yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError("run " + runId + " did not get there; last seen: " + last);
  }
}
