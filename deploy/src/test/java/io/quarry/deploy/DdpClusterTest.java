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
 * 127.0.0.1: one worker JVM killed with SIGKILL mid-run is a lost rank; the group stops its other rank, waits for a
 * worker to join, restarts from rank 0's checkpoint and completes.
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
  }

  @Test
  void aWorkerJvmKilledMidRunRestartsTheGroupOnAWorkerThatJoinsAndTheRunCompletes() throws Exception {
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
    ApiClient api = new ApiClient("http://127.0.0.1:" + http, token, null);

    // 1000 samples per rank in batches of 25, 2 epochs: 80 steps of a tenth of a second; checkpoints every 10.
    api.submit("", List.of("trainer=process", "process.distributed=torch", "process.ranks=2", "process.samples=2000",
        "process.command=[\"python3\",\"" + REPO.resolve("examples/pytorch/ddp_train.py") + "\",\"--samples\",\"2000\","
            + "\"--batch-size\",\"25\",\"--epochs\",\"2\",\"--step-delay\",\"0.1\",\"--checkpoint-every\",\""
            + CHECKPOINT_EVERY + "\"]",
        "process.grace=3s", "max-attempts=3", "hard-examples.merge-interval=1s"), "ddp-kill-jvm");
    JsonNode running = awaitRun(api, run -> run.path("shards").get(0).path("checkpoint_step").asLong() >= 2 * CHECKPOINT_EVERY,
        Duration.ofSeconds(180));
    String victim = running.path("shards").get(1).path("worker_id").asText();
    String upAt = "quarry worker node up at " + victim.substring(0, victim.indexOf('/'));
    String victimNode = nodes.logText("worker-a").contains(upAt) ? "worker-a" : "worker-b";
    assertTrue(nodes.logText(victimNode).contains(upAt), "rank 1's worker is " + victim);
    nodes.kill(victimNode);
    startWorker("worker-c", seed);

    JsonNode done = awaitRun(api, run -> List.of("completed", "failed").contains(run.path("state").asText()),
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

  private static JsonNode awaitRun(ApiClient api, Predicate<JsonNode> condition, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    JsonNode last = null;
    while (System.nanoTime() < deadline) {
      try {
        last = api.run("ddp-kill-jvm");
        if (condition.test(last)) return last;
      } catch (java.io.IOException e) {
        // not there yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError("run ddp-kill-jvm did not get there; last seen: " + last);
  }
}
