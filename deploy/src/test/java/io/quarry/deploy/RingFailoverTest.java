package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A member of an all-reduce ring SIGKILLed mid-run, with a coordinator and three worker JVMs on 127.0.0.1 (two train,
 * one waits): the other member's round aborts because its connection broke (not at {@code sync.timeout}), the ring
 * re-forms without the lost member under a new epoch, the lost shard starts again on the spare worker and joins a
 * newer ring, and the run completes.
 */
@Timeout(300)
class RingFailoverTest {
  @TempDir Path dir;
  private NodeProcesses nodes;

  @AfterEach
  void killEverything() {
    if (nodes != null) nodes.close();
  }

  private String token() {
    String token = ApiClient.token(null, Map.of("QUARRY_RUNS_DIR", dir + "/runs"));
    if (token == null) throw new AssertionError("no token file in " + dir + "/runs");
    return token;
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
        // not up yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError("timed out waiting for run " + runId + "; last seen: " + last);
  }

  @Test
  void aMemberKilledMidRunAbortsTheOthersRoundTheRingReformsAndTheRunCompletes() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    int artery = NodeProcesses.freePort();
    int http = NodeProcesses.freePort();
    nodes.start("coordinator", Map.of(), "coordinator", "--port", "" + artery, "--http-port", "" + http,
        "--runs-dir", dir + "/runs");
    nodes.awaitLog("coordinator", "quarry coordinator node up", Duration.ofSeconds(60));
    List<String> workers = List.of("worker-a", "worker-b", "worker-c");
    for (String worker : workers) {
      nodes.start(worker, Map.of(), "worker", "--seed-nodes", "127.0.0.1:" + artery, "--devices", "cpu");
    }
    for (String worker : workers) nodes.awaitLog(worker, "quarry worker node up", Duration.ofSeconds(60));
    for (String worker : workers) nodes.awaitMemberUp(worker, Duration.ofSeconds(60));
    ApiClient api = new ApiClient("http://127.0.0.1:" + http, token(), null);
    Thread.sleep(2000); // the third worker registers too

    // 2 shards of 400 steps, 30 ms each, gradients averaged every step on the ring.
    api.submit("trainer = linear-sgd\nstub.samples = 8000\nstub.step-time = 30ms\nbatch-size = 10\nepochs = 1\n"
        + "shards = 2\nsync.mode = allreduce\nsync.timeout = 5s\n", List.of(), "ring-kill");
    JsonNode running = awaitRun(api, "ring-kill", run -> {
      for (JsonNode shard : run.path("shards")) if (shard.path("step").asLong() < 40) return false;
      return run.path("shards").size() == 2;
    }, Duration.ofSeconds(90));
    String victimId = running.path("shards").get(0).path("worker_id").asText();
    String survivorId = running.path("shards").get(1).path("worker_id").asText();
    String victim = nodeOf(victimId);
    String survivor = nodeOf(survivorId);
    long killedAtMs = System.currentTimeMillis();
    nodes.kill(victim);

    JsonNode done = awaitRun(api, "ring-kill", run -> run.path("state").asText().equals("completed")
        || run.path("state").asText().equals("failed"), Duration.ofSeconds(180));
    assertEquals("completed", done.path("state").asText(), done.toString());

    // The survivor's round aborted because the connection broke, not at its deadline.
    String log = nodes.logText(survivor);
    String firstAbort = log.lines().filter(l -> l.contains("all-reduce round aborted")).findFirst().orElse(null);
    assertTrue(firstAbort != null, "the survivor's round aborted:\n" + nodes.tail(survivor));
    assertFalse(firstAbort.contains("timed out"), firstAbort);
    System.out.println("[measure] SIGKILL at " + java.time.Instant.ofEpochMilli(killedAtMs) + "; the survivor's first "
        + "abort: " + firstAbort);

    RunFiles files = new RunFiles(dir.resolve("runs/ring-kill"));
    List<JsonNode> rings = files.events("ring_formed");
    long firstEpoch = rings.get(0).get("epoch").asLong();
    assertEquals(2, rings.get(0).get("shards").size(), rings.toString());
    JsonNode alone = rings.stream().filter(r -> r.get("why").asText().equals("member_left")).findFirst()
        .orElseThrow(() -> new AssertionError("no ring without the lost member: " + rings));
    assertEquals(List.of(1), List.of(alone.get("shards").get(0).asInt()), alone.toString());
    assertEquals(1, alone.get("shards").size(), alone.toString());
    assertTrue(alone.get("epoch").asLong() > firstEpoch);
    // The lost shard, started again elsewhere, is back on a newer ring (until the first shard to finish leaves it).
    JsonNode rejoined = rings.stream().filter(r -> r.get("why").asText().equals("member_joined")).findFirst()
        .orElseThrow(() -> new AssertionError("the lost shard never rejoined: " + rings));
    assertEquals(2, rejoined.get("shards").size(), rejoined.toString());
    assertTrue(rejoined.get("attempts").get(0).asInt() >= 2, rejoined.toString());
    assertTrue(rejoined.get("epoch").asLong() > alone.get("epoch").asLong());
    assertEquals(0, files.events("worker_lost").stream().filter(e -> !e.path("worker_id").asText().equals(victimId))
        .count(), "only the killed worker was lost");
  }

  /** The node that came up at the worker's host:port (other nodes' logs name it too). */
  private String nodeOf(String workerId) {
    String up = "quarry worker node up at " + workerId.substring(0, workerId.indexOf('/')) + " ";
    for (String name : List.of("worker-a", "worker-b", "worker-c")) {
      if (nodes.logText(name).contains(up)) return name;
    }
    throw new AssertionError("no node runs worker " + workerId);
  }
}
