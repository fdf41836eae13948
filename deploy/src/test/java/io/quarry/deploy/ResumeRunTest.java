package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand.ResumeOutcome;
import io.quarry.protocol.CoordinatorCommand.ResumeReply;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resuming a stopped run as the same run ({@code quarry resume}, {@code POST /api/runs/{id}/resume}): its shards
 * continue from their checkpoints, its events and totals carry on; a completed run, an unknown one and an override a
 * resumed run may not change are refused, and nothing changes.
 */
@Timeout(180)
class ResumeRunTest extends CliCapture {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** 2 shards x 1000 samples / 20 per batch x 2 epochs: 100 steps a shard. */
  private static final List<String> RUN = List.of("stub.samples=2000", "batch-size=20", "epochs=2",
      "stub.step-time=15ms", "checkpoint.every-steps=10");

  @TempDir Path tmp;
  private LocalCluster cluster;
  private ServerBinding binding;

  @AfterEach
  void shutDown() throws Exception {
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (cluster != null) cluster.close();
  }

  private Path runs() {
    return tmp.resolve("runs");
  }

  /** Submits {@code runId} and stops it once its shards have checkpointed; returns its summary. */
  private RunSummary stoppedMidway(String runId) throws Exception {
    SubmitReply reply = cluster.submit(new RunSpec(runId, RunConfig.fromOverrides(RUN, Map.of()).toHocon()))
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply::toString);
    CountDownLatch midway = new CountDownLatch(1);
    var following = cluster.follow(runId, p -> {
      if (p.steps() >= 80) midway.countDown();
    });
    assertTrue(midway.await(60, TimeUnit.SECONDS), "the run never got midway");
    assertTrue(cluster.stop(runId, "stopped midway").toCompletableFuture().get(10, TimeUnit.SECONDS).accepted());
    RunSummary summary = following.get(60, TimeUnit.SECONDS);
    assertEquals(RunState.STOPPED, summary.status());
    assertTrue(summary.steps() < 200, "stopped before its end: " + summary.steps());
    return summary;
  }

  @Test
  void aStoppedRunResumesFromItsCheckpointsAndCompletesWithItsTotalsAddingUp() throws Exception {
    cluster = LocalCluster.start(2, runs(), ConfigFactory.parseResources("application-test.conf"));
    RunSummary stopped = stoppedMidway("halted");
    RunFiles files = new RunFiles(runs().resolve("halted"));
    long trainedBefore = files.runCompleted().get("steps_trained").asLong();

    ResumeReply reply = cluster.client().resume("halted", List.of("max-attempts=5"))
        .toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertEquals(ResumeOutcome.RESUMED, reply.outcome(), reply.message());
    assertEquals(runs().resolve("halted").toString(), reply.runDir());
    RunSummary resumed = cluster.follow("halted", p -> {}).get(90, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, resumed.status(), resumed.reason());
    assertEquals(200, resumed.steps());

    List<JsonNode> events = files.events();
    List<JsonNode> ends = files.events("run_completed");
    assertEquals(List.of("stopped", "completed"), ends.stream().map(e -> e.get("status").asText()).toList());
    JsonNode resumedEvent = files.events("run_resumed").get(0);
    assertEquals("stopped", resumedEvent.get("previous_status").asText());
    assertEquals("stopped midway", resumedEvent.get("previous_reason").asText());
    assertEquals("max-attempts=5", resumedEvent.get("overrides").get(0).asText());
    int resumedAt = events.indexOf(resumedEvent);
    Map<Integer, Long> startSteps = new HashMap<>();
    for (JsonNode started : events.subList(resumedAt, events.size())) {
      if (started.get("type").asText().equals("shard_started")) {
        startSteps.putIfAbsent(started.get("shard").asInt(), started.get("start_step").asLong());
      }
    }
    for (JsonNode shard : resumedEvent.get("shards")) {
      long start = startSteps.get(shard.asInt());
      assertTrue(start >= 10, "shard " + shard + " continued from its checkpoint, not from 0: " + start);
    }
    JsonNode end = ends.get(1);
    assertEquals(200, end.get("steps").asLong());
    assertEquals(end.get("steps").asLong() + end.get("steps_redone").asLong(), end.get("steps_trained").asLong(),
        "steps trained = steps + steps redone: " + end);
    assertTrue(end.get("steps_trained").asLong() > trainedBefore, "the totals carry on: " + end);
    assertEquals(end.get("steps_trained").asLong() * 20, end.get("samples").asLong(), end.toString());
    assertTrue(end.get("steps_redone").asLong() < 2 * 10 + stopped.stepsRedone() + 2,
        "at most the steps past each shard's last checkpoint were trained again: " + end);
    assertEquals(1, files.scalars().stream().filter(line -> line.startsWith("step,")).count(), "one header");
  }

  @Test
  void aCompletedRunAnUnknownRunAndAnUnsafeOverrideAreRefusedAndNothingChanges() throws Exception {
    cluster = LocalCluster.start(2, runs(), ConfigFactory.parseResources("application-test.conf"));
    Path tokens = Files.writeString(tmp.resolve("tokens"), "operate resume-test-token-0123456789abcdef\n");
    binding = HttpApi.bind(cluster.system(), cluster.coordinator(), ApiTokens.fromFile(tokens), "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    String base = "http://127.0.0.1:" + binding.localAddress().getPort();
    stoppedMidway("paused");
    SubmitReply done = cluster.submit(new RunSpec("finished", RunConfig.fromOverrides(List.of("stub.samples=200",
        "stub.step-time=0"), Map.of()).toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(done instanceof SubmitReply.Accepted, done::toString);
    assertEquals(RunState.COMPLETED, cluster.follow("finished", p -> {}).get(60, TimeUnit.SECONDS).status());

    Path paused = runs().resolve("paused");
    byte[] events = Files.readAllBytes(paused.resolve("events.jsonl"));
    byte[] runConf = Files.readAllBytes(paused.resolve("run.conf"));
    String stored = storeState("paused");

    HttpResponse<String> batch = resume(base, "paused", "{\"overrides\": [\"batch-size=64\"]}");
    assertEquals(400, batch.statusCode(), batch.body());
    assertTrue(JSON.readTree(batch.body()).get("error").asText().startsWith("override 'batch-size=64' is refused: "
        + "batch-size cannot change when a run resumes"), batch.body());
    HttpResponse<String> fewer = resume(base, "paused", "{\"overrides\": [\"epochs=1\"]}");
    assertEquals(400, fewer.statusCode(), fewer.body());
    assertTrue(fewer.body().contains("epochs can only go up"), fewer.body());
    HttpResponse<String> completed = resume(base, "finished", "{}");
    assertEquals(409, completed.statusCode(), completed.body());
    assertTrue(JSON.readTree(completed.body()).get("error").asText().startsWith("run finished completed; only a "
        + "stopped or failed run can be resumed"), completed.body());
    HttpResponse<String> unknown = resume(base, "nowhere", "");
    assertEquals(404, unknown.statusCode(), unknown.body());
    assertEquals("no run with id 'nowhere'", JSON.readTree(unknown.body()).get("error").asText());

    assertArrayEquals(events, Files.readAllBytes(paused.resolve("events.jsonl")), "events.jsonl unchanged");
    assertArrayEquals(runConf, Files.readAllBytes(paused.resolve("run.conf")), "run.conf unchanged");
    assertEquals(stored, storeState("paused"), "the run store unchanged");
    assertEquals("stopped", cluster.client().run("paused").toCompletableFuture().get(10, TimeUnit.SECONDS).status()
        .state().wireName());
    assertTrue(!Files.exists(runs().resolve("nowhere")), "nothing made for an unknown run");

    // Now resumed over HTTP, with more epochs: every shard trains on to the new end.
    HttpResponse<String> accepted = resume(base, "paused", "{\"overrides\": [\"epochs=3\"]}");
    assertEquals(202, accepted.statusCode(), accepted.body());
    RunSummary summary = cluster.follow("paused", p -> {}).get(90, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(300, summary.steps(), "2 shards x 150 steps");
    assertTrue(Files.readString(paused.resolve("run.conf")).contains("epochs=3"), "run.conf has the resumed config");
  }

  @Test
  void quarryResumeInLocalModeContinuesARunOfAnEarlierLocalCluster() throws Exception {
    cluster = LocalCluster.start(2, runs(), ConfigFactory.parseResources("application-test.conf"));
    stoppedMidway("yesterday");
    cluster.close();
    cluster = null;
    int exit = QuarryCli.run("resume", "--runs-dir", runs().toString(), "--workers", "2", "--quiet", "yesterday",
        "stub.step-time=0");
    assertEquals(QuarryCli.EXIT_COMPLETED, exit, stdout() + stderr());
    assertTrue(stdout().contains("run yesterday completed"), stdout());
    JsonNode end = new RunFiles(runs().resolve("yesterday")).events("run_completed").get(1);
    assertEquals(200, end.get("steps").asLong(), end.toString());

    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run("resume", "--runs-dir", runs().toString(), "--workers", "1",
        "yesterday"));
    assertTrue(stderr().contains("run yesterday completed; only a stopped or failed run can be resumed"), stderr());
  }

  private HttpResponse<String> resume(String base, String runId, String body) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(base + "/api/runs/" + runId + "/resume"))
        .header("Authorization", "Bearer resume-test-token-0123456789abcdef")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** The run's record and shards in the run store, as text. */
  private String storeState(String runId) {
    try (RunStore store = RunStores.open(LocalCluster.defaultStoreUrl(runs()))) {
      return store.run(runId).orElseThrow() + "\n" + store.shards(runId);
    }
  }
}
