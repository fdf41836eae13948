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
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Coordinator and worker nodes as separate JVMs on 127.0.0.1, joined over Artery: a run across them merges what
 * local mode merges, and a run survives one of them killed with SIGKILL mid-run, losing at most one checkpoint
 * interval of steps per shard.
 */
@Timeout(240)
class ClusterProcessesTest {
  private static final int CHECKPOINT_EVERY = 10;

  @TempDir Path dir;
  private NodeProcesses nodes;

  @AfterEach
  void killEverything() {
    if (nodes != null) nodes.close();
  }

  private String startCoordinator(String name, int arteryPort, int httpPort, String seed) throws Exception {
    String[] args = seed == null
        ? new String[] {"coordinator", "--port", "" + arteryPort, "--http-port", "" + httpPort, "--runs-dir", dir + "/runs"}
        : new String[] {"coordinator", "--port", "" + arteryPort, "--http-port", "" + httpPort, "--runs-dir",
            dir + "/runs", "--seed-nodes", seed};
    nodes.start(name, Map.of(), args);
    nodes.awaitLog(name, "quarry coordinator node up", Duration.ofSeconds(60));
    return "http://127.0.0.1:" + httpPort;
  }

  private void startWorker(String name, String seeds) throws Exception {
    nodes.start(name, Map.of(), "worker", "--seed-nodes", seeds, "--devices", "cpu");
    nodes.awaitLog(name, "quarry worker node up", Duration.ofSeconds(60));
    nodes.awaitMemberUp(name, Duration.ofSeconds(60));
  }

  /** The operate token the first coordinator made in the runs directory at its start (a coordinator node's default). */
  private String token() {
    String token = ApiClient.token(null, Map.of("QUARRY_RUNS_DIR", dir + "/runs"));
    if (token == null) throw new AssertionError("no token file in " + dir + "/runs");
    return token;
  }

  /** A client of the API at {@code url}, with the coordinators' token. */
  private ApiClient client(String url) {
    return new ApiClient(url, token(), null);
  }

  private void awaitWorkers(ApiClient api, int count) throws Exception {
    await(() -> {
      long ready = 0;
      for (JsonNode worker : workers(api)) {
        if (!worker.path("worker_id").isNull() && !worker.path("state").asText().equals("lost")) ready++;
      }
      return ready >= count;
    }, Duration.ofSeconds(60), () -> "workers registered");
  }

  private List<JsonNode> workers(ApiClient api) throws Exception {
    java.net.http.HttpResponse<String> response = java.net.http.HttpClient.newHttpClient().send(
        java.net.http.HttpRequest.newBuilder(java.net.URI.create(api.base() + "/api/workers"))
            .header("Authorization", "Bearer " + token()).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    List<JsonNode> list = new java.util.ArrayList<>();
    new com.fasterxml.jackson.databind.ObjectMapper().readTree(response.body()).path("workers").forEach(list::add);
    return list;
  }

  private static JsonNode awaitRun(ApiClient api, String runId, Predicate<JsonNode> condition, Duration timeout)
      throws Exception {
    JsonNode[] last = {null};
    await(() -> {
      try {
        last[0] = api.run(runId);
      } catch (java.io.IOException e) {
        return false; // the coordinator may be failing over
      }
      return condition.test(last[0]);
    }, timeout, () -> "run " + runId + " reached the expected state (last seen: " + last[0] + ")");
    return last[0];
  }

  interface Check {
    boolean ok() throws Exception;
  }

  private static void await(Check check, Duration timeout, Supplier<String> what) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (check.ok()) return;
      Thread.sleep(200);
    }
    throw new AssertionError("timed out waiting: " + what.get());
  }

  private static String runConfig(int samples, String stepTime) {
    return "stub.samples = " + samples + "\nstub.step-time = " + stepTime + "\nbatch-size = 10\nepochs = 1\n"
        + "checkpoint.every-steps = " + CHECKPOINT_EVERY + "\nhard-examples.merge-interval = 500ms\n";
  }

  @Test
  void aRunAcrossWorkerJvmsMergesTheSameHardExamplesAsInLocalMode() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    int artery = NodeProcesses.freePort();
    ApiClient api = client(startCoordinator("coordinator", artery, NodeProcesses.freePort(), null));
    startWorker("worker-a", "127.0.0.1:" + artery);
    startWorker("worker-b", "127.0.0.1:" + artery);
    awaitWorkers(api, 2);
    List<String> config = List.of("seed=7", "shards=2", "stub.samples=3000", "stub.step-time=0", "epochs=2",
        "hard-examples.k=64", "hard-examples.window=run", "hard-examples.merge-mode=top-k");

    api.submit("", config, "across-jvms");
    JsonNode done = awaitRun(api, "across-jvms", run -> run.path("state").asText().equals("completed"),
        Duration.ofSeconds(90));
    assertEquals(2 * 47 * 2, done.path("steps").asLong(), "2 shards x ceil(1500 / 32) steps x 2 epochs");

    Path localRuns = dir.resolve("local-runs");
    try (LocalCluster local = LocalCluster.start(2, localRuns, com.typesafe.config.ConfigFactory.empty())) {
      String hocon = io.quarry.config.RunConfig.fromOverrides(config, Map.of()).toHocon();
      local.submit(new io.quarry.protocol.RunSpec("in-one-jvm", hocon)).toCompletableFuture()
          .get(30, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(io.quarry.protocol.RunState.COMPLETED,
          local.follow("in-one-jvm", p -> {}).get(90, java.util.concurrent.TimeUnit.SECONDS).status());
    }
    List<Long> acrossJvms = finalMergeIds(dir.resolve("runs/across-jvms"));
    List<Long> inOneJvm = finalMergeIds(localRuns.resolve("in-one-jvm"));
    assertEquals(64, acrossJvms.size());
    assertEquals(inOneJvm, acrossJvms, "the same seed merges the same hard examples in a cluster and in local mode");
  }

  private static List<Long> finalMergeIds(Path runDir) {
    List<JsonNode> merges = new RunFiles(runDir).merges();
    List<Long> ids = new java.util.ArrayList<>();
    merges.get(merges.size() - 1).path("entries").forEach(entry -> ids.add(entry.path("sample_id").asLong()));
    return ids;
  }

  @Test
  void aWorkerKilledMidRunHasItsShardResumedElsewhereAndTheRunCompletes() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    int artery = NodeProcesses.freePort();
    String seed = "127.0.0.1:" + artery;
    ApiClient api = client(startCoordinator("coordinator", artery, NodeProcesses.freePort(), null));
    startWorker("worker-a", seed);
    startWorker("worker-b", seed);
    awaitWorkers(api, 2);

    api.submit(runConfig(4000, "25ms"), List.of(), "kill-worker");
    // 2 shards of 200 steps at 25 ms: wait until both have passed a few checkpoints.
    JsonNode running = awaitRun(api, "kill-worker", run -> {
      for (JsonNode shard : run.path("shards")) if (shard.path("checkpoint_step").asLong() < 30) return false;
      return true;
    }, Duration.ofSeconds(60));
    String victim = running.path("shards").get(0).path("worker_id").asText();
    String victimNode = nodes.logText("worker-a").contains(victim.substring(0, victim.indexOf('/'))) ? "worker-a" : "worker-b";
    long killedAtMs = System.currentTimeMillis();
    nodes.kill(victimNode);

    JsonNode done = awaitRun(api, "kill-worker", run -> run.path("state").asText().equals("completed")
        || run.path("state").asText().equals("failed"), Duration.ofSeconds(120));
    assertEquals("completed", done.path("state").asText(), done.toString());
    assertEquals(400, done.path("steps").asLong());

    RunFiles files = new RunFiles(dir.resolve("runs/kill-worker"));
    JsonNode lost = files.events("worker_lost").get(0);
    assertEquals(victim, lost.path("worker_id").asText());
    JsonNode reassigned = files.events("shard_reassigned").get(0);
    assertEquals(0, reassigned.path("shard").asInt());
    assertTrue(reassigned.path("resume_step").asLong() >= 30, "resumed from its checkpoint: " + reassigned);
    JsonNode completed = files.runCompleted();
    assertTrue(completed.path("steps_redone").asLong() <= CHECKPOINT_EVERY,
        "at most one checkpoint interval redone: " + completed);
    List<JsonNode> restarted = files.events("shard_started").stream()
        .filter(e -> e.path("shard").asInt() == 0 && e.path("attempt").asInt() == 2).collect(Collectors.toList());
    assertEquals(1, restarted.size());
    long recoveryMs = restarted.get(0).path("ts_unix_ns").asLong() / 1_000_000 - killedAtMs;
    System.out.println("[measure] worker SIGKILL -> shard running elsewhere: " + recoveryMs + " ms");
    assertFalse(files.merges().isEmpty(), "hard examples merged before the loss are kept");
  }

  @Test
  void theActiveCoordinatorKilledMidRunIsReplacedByTheStandbyAndTheRunCompletes() throws Exception {
    nodes = new NodeProcesses(dir.resolve("logs"));
    int artery1 = NodeProcesses.freePort();
    int artery2 = NodeProcesses.freePort();
    String seeds = "127.0.0.1:" + artery1 + ",127.0.0.1:" + artery2;
    ApiClient first = client(startCoordinator("coordinator-1", artery1, NodeProcesses.freePort(), null));
    ApiClient standby = client(startCoordinator("coordinator-2", artery2, NodeProcesses.freePort(),
        "127.0.0.1:" + artery1));
    startWorker("worker-a", seeds);
    startWorker("worker-b", seeds);
    awaitWorkers(first, 2);

    first.submit(runConfig(4000, "30ms"), List.of(), "kill-coordinator");
    awaitRun(first, "kill-coordinator", run -> {
      for (JsonNode shard : run.path("shards")) if (shard.path("checkpoint_step").asLong() < 20) return false;
      return true;
    }, Duration.ofSeconds(60));
    long killedAtMs = System.currentTimeMillis();
    nodes.kill("coordinator-1");

    JsonNode done = awaitRun(standby, "kill-coordinator", run -> run.path("state").asText().equals("completed")
        || run.path("state").asText().equals("failed"), Duration.ofSeconds(150));
    assertEquals("completed", done.path("state").asText(), done.toString());
    assertEquals(400, done.path("steps").asLong());

    RunFiles files = new RunFiles(dir.resolve("runs/kill-coordinator"));
    JsonNode recovered = files.events("run_recovered").get(0);
    long recoveryMs = recovered.path("ts_unix_ns").asLong() / 1_000_000 - killedAtMs;
    System.out.println("[measure] coordinator SIGKILL -> run recovered by the standby: " + recoveryMs + " ms");
    assertEquals(List.of(0, 1), files.events("shard_completed").stream().map(e -> e.path("shard").asInt()).sorted()
        .collect(Collectors.toList()), "each shard completed exactly once");
    JsonNode completed = files.runCompleted();
    // The workers fence their attempts when the coordinator's node becomes unreachable; the new coordinator restarts
    // them from the newest checkpoint, and the steps past it are trained again and counted as such.
    assertEquals(400 + completed.path("steps_redone").asLong(), completed.path("steps_trained").asLong(),
        "every step trained is the run's or counted as redone: " + completed);
    assertEquals(10 * completed.path("steps_trained").asLong(), completed.path("samples").asLong(), completed.toString());
    assertTrue(completed.path("steps_redone").asLong() <= 2L * CHECKPOINT_EVERY,
        "at most one checkpoint interval per shard redone: " + completed);
  }
}
