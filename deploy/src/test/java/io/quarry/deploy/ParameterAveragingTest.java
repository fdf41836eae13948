package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.Worker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Parameter averaging end to end in local mode (every message through the Kryo serializer), with the test trainer
 * {@code linear-sgd}: N workers averaging every step train the one model a single worker trains with N times their
 * batch, and a worker that stops answering holds a round up for {@code sync.timeout} only.
 */
@Timeout(180)
class ParameterAveragingTest {
  private static final int SAMPLES = 256;
  private static final int EPOCHS = 25;

  @TempDir Path runsDir;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private String submit(String runId, List<String> overrides) throws Exception {
    RunConfig config = RunConfig.fromOverrides(overrides, Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    return runId;
  }

  /** Full-batch steps (one per epoch): a single worker's batch is the union of the N workers' batches. */
  private RunSummary train(String runId, int shards, String syncMode) throws Exception {
    submit(runId, List.of("trainer=linear-sgd", "stub.samples=" + SAMPLES, "epochs=" + EPOCHS, "seed=11",
        "optimizer.lr=0.05", "stub.step-time=0", "shards=" + shards, "batch-size=" + SAMPLES / shards,
        "sync.mode=" + syncMode, "sync.transport=coordinator", "sync.every=1"));
    RunSummary summary = cluster.follow(runId, p -> {}).get(90, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    return summary;
  }

  /** Every shard attempt's final parameters, in path order (shard, then attempt). */
  private List<float[]> finalParams(String runId) throws Exception {
    List<float[]> params = new ArrayList<>();
    try (Stream<Path> files = Files.walk(runsDir.resolve(runId).resolve("checkpoints"))) {
      for (Path file : files.filter(f -> f.getFileName().toString().equals(LinearSgdTrainer.PARAMS_FILE)).sorted().toList()) {
        params.add(LinearSgdTrainer.readParams(file));
      }
    }
    return params;
  }

  private static float maxDifference(float[] a, float[] b) {
    assertEquals(a.length, b.length);
    float max = 0;
    for (int i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    return max;
  }

  @Test
  void nWorkersAveragingEveryStepWithBatchBMatchOneWorkerWithBatchNTimesB() throws Exception {
    cluster = LocalCluster.start(4, runsDir, ConfigFactory.parseResources("application-test.conf"));
    train("one", 1, "none");
    float[] reference = finalParams("one").get(0);
    assertEquals(LinearSgdTrainer.FEATURES + 1, reference.length);

    for (int workers : new int[] {2, 4}) {
      String runId = "averaged-" + workers;
      train(runId, workers, "average");

      List<float[]> shards = finalParams(runId);
      assertEquals(workers, shards.size());
      for (float[] shard : shards) {
        assertTrue(maxDifference(reference, shard) < 1e-5f, workers + " workers, batch " + SAMPLES / workers + ": "
            + Arrays.toString(shard) + " vs 1 worker, batch " + SAMPLES + ": " + Arrays.toString(reference));
      }
      List<JsonNode> rounds = new RunFiles(runsDir.resolve(runId)).events("sync_round");
      assertEquals(EPOCHS, rounds.size(), "one round per step");
      for (JsonNode round : rounds) {
        assertEquals(workers, round.get("contributors").asInt(), round.toString());
        assertTrue(round.get("missing").isEmpty(), round.toString());
        assertFalse(round.get("timed_out").asBoolean(), round.toString());
        assertEquals(reference.length, round.get("parameters").asInt());
      }
    }

    train("apart-4", 4, "none");
    float furthest = 0;
    for (float[] shard : finalParams("apart-4")) furthest = Math.max(furthest, maxDifference(reference, shard));
    assertTrue(furthest > 1e-3f, "without averaging each shard fits its own samples: " + furthest);
    assertTrue(new RunFiles(runsDir.resolve("apart-4")).events("sync_round").isEmpty());
  }

  @Test
  void aWorkerThatStopsAnsweringHoldsRoundsUpForTheTimeoutOnlyAndItsShardIsReassigned() throws Exception {
    cluster = LocalCluster.start(3, runsDir, ConfigFactory.parseResources("application-test.conf"));
    String runId = submit("lost", List.of("trainer=linear-sgd", "stub.samples=200", "epochs=40", "batch-size=100",
        "shards=2", "stub.step-time=20ms", "sync.mode=average", "sync.transport=coordinator", "sync.every=1", "sync.timeout=300ms",
        "stub.hang-at-step=5", "stub.fault-shards=[1]", "stub.fail-attempts=1", "telemetry.enabled=false"));
    CompletableFuture<RunSummary> end = cluster.follow(runId, p -> {});
    RunFiles files = new RunFiles(runsDir.resolve(runId));

    JsonNode timedOut = awaitEvent(files, "sync_round", e -> e.get("timed_out").asBoolean());
    assertEquals("[1]", timedOut.get("missing").toString(), timedOut.toString());
    assertEquals("[0]", timedOut.get("shards").toString(), timedOut.toString());
    assertTrue(timedOut.get("wall_ms").asLong() >= 300, timedOut.toString());
    String hungWorker = files.events("shard_assigned").stream().filter(e -> e.get("shard").asInt() == 1)
        .findFirst().orElseThrow().get("worker_id").asText();
    workerNamed(hungWorker).tell(Worker.Shutdown.INSTANCE);

    RunSummary summary = end.get(90, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(hungWorker, files.events("worker_lost").get(0).get("worker_id").asText());
    assertEquals(1, files.events("shard_reassigned").get(0).get("shard").asInt());
    for (JsonNode round : files.events("sync_round")) {
      assertFalse(round.get("missing").isEmpty() && round.get("averaged").asBoolean(),
          "fast mode writes only the rounds a shard missed: " + round);
    }
    List<float[]> params = finalParams(runId);
    assertEquals(2, params.size(), "shard 0 and shard 1's second attempt trained to the end");
  }

  private org.apache.pekko.actor.typed.ActorRef<WorkerCommand> workerNamed(String workerId) {
    return cluster.workers().stream().filter(w -> w.path().name().equals(workerId)).findFirst().orElseThrow();
  }

  private static JsonNode awaitEvent(RunFiles files, String type, java.util.function.Predicate<JsonNode> matching)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (Files.exists(files.dir.resolve("events.jsonl"))) {
        for (JsonNode event : files.events(type)) if (matching.test(event)) return event;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no matching " + type + " event within 30 s in " + files.dir);
  }
}
