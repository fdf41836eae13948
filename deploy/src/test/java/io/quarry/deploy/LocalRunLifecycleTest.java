package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.StopReply;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.ShardState;
import io.quarry.worker.Worker;
import io.quarry.worker.trainer.stub.StubLossModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A run in local mode, end to end: real workers, the stub trainer, the run directory. */
@Timeout(120)
class LocalRunLifecycleTest {
  static final Set<String> LIFECYCLE_TYPES = Set.of("run_submitted", "run_started", "shard_assigned", "shard_started",
      "shard_completed", "shard_failed", "shard_retried", "shard_stopped", "shard_reassigned", "worker_lost",
      "run_stopping", "run_completed");

  @TempDir Path runsDir;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private LocalCluster start(int workers) {
    cluster = LocalCluster.start(workers, runsDir, ConfigFactory.parseResources("application-test.conf"));
    return cluster;
  }

  private String submit(String runId, String... overrides) throws Exception {
    RunConfig config = RunConfig.fromOverrides(List.of(overrides), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    return ((SubmitReply.Accepted) reply).runId();
  }

  private RunSummary runToEnd(String runId, String... overrides) throws Exception {
    submit(runId, overrides);
    return cluster.follow(runId, p -> {}).get(90, TimeUnit.SECONDS);
  }

  @Test
  void completesAndWritesTheRunDirectory() throws Exception {
    start(4);
    RunSummary summary = runToEnd("demo", "stub.samples=2000", "stub.step-time=0", "epochs=2", "batch-size=20",
        "checkpoint.every-steps=10");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(200, summary.steps(), "4 shards x 500 samples / 20 per batch x 2 epochs");
    assertEquals(4000, summary.samples());
    RunFiles files = new RunFiles(runsDir.resolve("demo"));
    assertTrue(Files.isRegularFile(files.dir.resolve("run.conf")));
    assertEquals(2000, RunConfig.parse(Files.readString(files.dir.resolve("run.conf"))).raw().getLong("stub.samples"));

    List<JsonNode> events = files.events();
    for (JsonNode event : events) {
      for (String field : List.of("type", "ts", "ts_unix_ns", "run_id")) {
        assertTrue(event.has(field), () -> "event without " + field + ": " + event);
      }
      assertEquals("demo", event.get("run_id").asText());
      assertTrue(event.get("ts").asText().endsWith("Z"), "ts is ISO-8601 UTC");
    }
    assertEquals("run_submitted", events.get(0).get("type").asText());
    assertEquals(1, files.events("run_started").size());
    assertEquals(4, files.events("shard_assigned").size());
    assertEquals(4, files.events("shard_completed").size());
    assertTrue(files.events("step").stream().allMatch(e -> e.has("worker_id")), "worker events carry worker_id");
    assertEquals(4 * 2, files.events("eval").size(), "one evaluation per shard and epoch");

    JsonNode completed = files.runCompleted();
    assertEquals("completed", completed.get("status").asText());
    assertEquals(200, completed.get("steps").asLong());
    assertEquals(4000, completed.get("samples").asLong());
    assertEquals(0, completed.get("dropped_events").asLong());
    assertFalse(completed.has("reason"));
    assertEquals("run_completed", events.get(events.size() - 1).get("type").asText());

    List<String> scalars = files.scalars();
    assertTrue(scalars.get(0).startsWith("step,epoch,worker_id,shard,split,loss,lr"), scalars.get(0));
    assertEquals(200 + 8, scalars.size() - 1, "one row per step and per evaluation");

    List<JsonNode> merges = files.merges();
    assertFalse(merges.isEmpty(), "a last merge runs when the run ends");
    for (int i = 0; i < merges.size(); i++) {
      JsonNode merge = merges.get(i);
      assertEquals(i, merge.get("merge").asInt());
      assertEquals("round-robin", merge.get("mode").asText());
      assertTrue(merge.has("threshold") && merge.has("workers") && merge.has("missing") && merge.has("entries"));
    }
    JsonNode last = merges.get(merges.size() - 1);
    double previous = Double.MAX_VALUE;
    for (JsonNode entry : last.get("entries")) {
      for (String field : List.of("sample_id", "loss", "worker_id", "step")) assertTrue(entry.has(field));
      assertTrue(entry.get("loss").asDouble() <= previous, "highest loss first");
      previous = entry.get("loss").asDouble();
    }
    assertEquals(summary.hardest().size(), last.get("entries").size());
    for (int shard = 0; shard < 4; shard++) {
      assertTrue(Files.exists(files.dir.resolve("checkpoints/" + shard + "/attempt-1/last")),
          "checkpoint of shard " + shard);
    }

    RunStatus status = cluster.client().run("demo").toCompletableFuture().get(10, TimeUnit.SECONDS).status();
    assertEquals(RunState.COMPLETED, status.state());
    assertEquals(200, status.steps());
    assertEquals(4, status.shards().size());
    assertTrue(status.shards().stream().allMatch(s -> s.state() == ShardState.DONE && s.step() == 50 && s.attempt() == 1));
    assertTrue(status.finishedUnixMs() >= status.startedUnixMs() && status.startedUnixMs() >= status.submittedUnixMs());
    assertEquals(List.of("demo"), cluster.client().runs().toCompletableFuture().get(10, TimeUnit.SECONDS).runs()
        .stream().map(RunStatus::runId).collect(Collectors.toList()));
    assertEquals(null, cluster.client().run("nope").toCompletableFuture().get(10, TimeUnit.SECONDS).status());
  }

  @Test
  void stopMidRunEndsStopped() throws Exception {
    start(2);
    String runId = submit("stopped", "stub.step-time=20ms", "stub.samples=4000", "epochs=5");
    CountDownLatch progressing = new CountDownLatch(1);
    CompletableFuture<RunSummary> end = cluster.follow(runId, p -> {
      if (p.steps() > 5) progressing.countDown();
    });
    assertTrue(progressing.await(30, TimeUnit.SECONDS), "the run made progress");
    assertTrue(cluster.stop(runId, "test asked").toCompletableFuture().get(10, TimeUnit.SECONDS).accepted());

    RunSummary summary = end.get(30, TimeUnit.SECONDS);
    assertEquals(RunState.STOPPED, summary.status());
    assertTrue(summary.steps() < 2 * 2000 / 32 * 5, "stopped before the end");
    RunFiles files = new RunFiles(runsDir.resolve(runId));
    assertEquals("stopped", files.runCompleted().get("status").asText());
    assertEquals(1, files.events("run_stopping").size());
    assertEquals(2, files.events("shard_stopped").size());
    StopReply again = cluster.stop(runId, "again").toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertFalse(again.accepted(), "a stopped run cannot be stopped again: " + again.message());
    assertEquals("run " + runId + " is already stopped", again.message());
  }

  @Test
  void aHungTrainerStillHonoursStop() throws Exception {
    start(1);
    String runId = submit("hung", "stub.step-time=0", "stub.samples=1000", "stub.hang-at-step=3",
        "checkpoint.every-steps=2");
    CountDownLatch hanging = new CountDownLatch(1);
    CompletableFuture<RunSummary> end = cluster.follow(runId, p -> {
      if (p.steps() >= 2) hanging.countDown();
    });
    assertTrue(hanging.await(30, TimeUnit.SECONDS), "the shard reached its hang");
    assertTrue(cluster.stop(runId, "stuck").toCompletableFuture().get(10, TimeUnit.SECONDS).accepted());

    RunSummary summary = end.get(30, TimeUnit.SECONDS);
    assertEquals(RunState.STOPPED, summary.status());
    assertEquals("stuck", summary.reason());
    JsonNode stopped = new RunFiles(runsDir.resolve(runId)).events("shard_stopped").get(0);
    assertEquals(3, stopped.get("end_step").asLong(), "it stopped where it hung");
  }

  @Test
  void failingTrainerIsRetriedThenTheRunFailsWithTheReason() throws Exception {
    start(2);
    RunSummary summary = runToEnd("failing", "stub.step-time=0", "stub.samples=1000", "stub.fail-at-step=7",
        "stub.fault-shards=[1]", "max-attempts=3", "checkpoint.every-steps=5");

    assertEquals(RunState.FAILED, summary.status());
    assertTrue(summary.reason().contains("shard 1 failed 3 time(s)"), summary.reason());
    assertTrue(summary.reason().contains("max-attempts = 3"), summary.reason());
    assertTrue(summary.reason().contains("stub.fail-at-step"), "the trainer's own error is kept: " + summary.reason());
    RunFiles files = new RunFiles(runsDir.resolve("failing"));
    List<JsonNode> failures = files.events("shard_failed");
    assertEquals(3, failures.size());
    assertEquals(List.of(1, 2, 3), failures.stream().map(f -> f.get("attempt").asInt()).collect(Collectors.toList()));
    assertEquals(2, files.events("shard_retried").size());
    JsonNode completed = files.runCompleted();
    assertEquals("failed", completed.get("status").asText());
    assertEquals(summary.reason(), completed.get("reason").asText());
  }

  @Test
  void transientFailureResumesFromTheLastCheckpointAndCompletes() throws Exception {
    start(2);
    RunSummary summary = runToEnd("transient", "stub.step-time=0", "stub.samples=1000", "batch-size=10",
        "stub.fail-at-step=33", "stub.fail-attempts=1", "stub.fault-shards=[0]", "checkpoint.every-steps=10");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(2 * 50 * 3, summary.steps());
    RunFiles files = new RunFiles(runsDir.resolve("transient"));
    JsonNode retried = files.events("shard_retried").get(0);
    assertEquals(0, retried.get("shard").asInt());
    assertEquals(30, retried.get("resume_step").asLong(), "resumes from the checkpoint at step 30");
    JsonNode reassigned = files.events("shard_assigned").stream()
        .filter(e -> e.get("shard").asInt() == 0 && e.get("attempt").asInt() == 2).findFirst().orElseThrow();
    assertEquals(30, reassigned.get("resume_step").asLong());
    assertTrue(summary.stepsRedone() <= 10, "at most one checkpoint interval redone: " + summary.stepsRedone());
  }

  @Test
  void stoppedWorkerHasItsShardReassignedAndTheRunCompletes() throws Exception {
    start(2);
    String runId = submit("reassigned", "stub.step-time=5ms", "stub.samples=2000", "batch-size=10", "epochs=1",
        "checkpoint.every-steps=10", "shards=2");
    CountDownLatch checkpointed = new CountDownLatch(1);
    CompletableFuture<RunSummary> end = cluster.follow(runId, p -> {
      if (p.steps() >= 30) checkpointed.countDown();
    });
    assertTrue(checkpointed.await(30, TimeUnit.SECONDS));
    cluster.workers().get(0).tell(Worker.Shutdown.INSTANCE);

    RunSummary summary = end.get(60, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(200, summary.steps());
    RunFiles files = new RunFiles(runsDir.resolve(runId));
    JsonNode lost = files.events("worker_lost").get(0);
    assertEquals("local-0", lost.get("worker_id").asText());
    List<JsonNode> reassigned = files.events("shard_reassigned");
    assertEquals(1, reassigned.size());
    assertEquals("local-0", reassigned.get(0).get("from_worker").asText());
    int shard = reassigned.get(0).get("shard").asInt();
    assertTrue(files.events("shard_completed").stream()
        .anyMatch(e -> e.get("shard").asInt() == shard && e.get("worker_id").asText().equals("local-1")));
    assertTrue(summary.stepsRedone() <= 10 + 1, "steps redone within one checkpoint interval: " + summary.stepsRedone());
  }

  @Test
  void aStragglerIsReportedAndItsSpeculativeCopyWins() throws Exception {
    start(3);
    // Shard 1 runs 8x slower on its first attempt only: a straggler whose speculative copy (attempt 2) is fast.
    RunSummary summary = runToEnd("straggler", "shards=2", "stub.samples=2000", "batch-size=10", "epochs=1",
        "stub.step-time=10ms", "stub.slow-factor=8", "stub.slow-attempts=1", "stub.fault-shards=[1]",
        "stragglers.window=500ms", "speculative=on", "checkpoint.every-steps=5");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(200, summary.steps());
    RunFiles files = new RunFiles(runsDir.resolve("straggler"));
    JsonNode straggler = files.events("straggler").get(0);
    assertEquals(1, straggler.get("shard").asInt());
    assertTrue(straggler.get("step_time_ms").asDouble() > 2 * straggler.get("median_step_time_ms").asDouble(),
        straggler.toString());
    JsonNode speculated = files.events("shard_speculated").get(0);
    assertEquals(1, speculated.get("shard").asInt());
    assertEquals(2, speculated.get("attempt").asInt());
    assertTrue(!speculated.get("worker_id").asText().equals(straggler.get("worker_id").asText()));
    JsonNode resolved = files.events("speculation_resolved").get(0);
    assertEquals(2, resolved.get("attempt").asInt(), "the fast copy finished first");
    assertEquals(straggler.get("worker_id").asText(), resolved.get("stopped_worker").asText());
    List<JsonNode> completedShard1 = files.events("shard_completed").stream()
        .filter(e -> e.get("shard").asInt() == 1).collect(Collectors.toList());
    assertEquals(1, completedShard1.size(), "shard 1 completed once");
  }

  @Test
  void aWorkerTakenForLostThatComesBackHasItsOldAttemptStoppedAndTrainsAgain() throws Exception {
    start(2);
    String runId = submit("comeback", "shards=2", "stub.samples=1000", "batch-size=10", "epochs=1",
        "stub.step-time=20ms", "checkpoint.every-steps=5");
    CountDownLatch checkpointed = new CountDownLatch(1);
    CompletableFuture<RunSummary> end = cluster.follow(runId, p -> {
      if (p.steps() >= 20) checkpointed.countDown();
    });
    assertTrue(checkpointed.await(30, TimeUnit.SECONDS));
    // As the cluster receptionist does for an unreachable node: the worker disappears from the listing...
    var worker = cluster.workers().get(0);
    cluster.system().receptionist().tell(
        org.apache.pekko.actor.typed.receptionist.Receptionist.deregister(io.quarry.protocol.ServiceKeys.WORKER, worker));
    RunFiles files = new RunFiles(runsDir.resolve(runId));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (files.events("shard_reassigned").isEmpty() && System.nanoTime() < deadline) Thread.sleep(20);
    // ...and comes back, still training the attempt that has been given up on.
    cluster.system().receptionist().tell(
        org.apache.pekko.actor.typed.receptionist.Receptionist.register(io.quarry.protocol.ServiceKeys.WORKER, worker));

    RunSummary summary = end.get(60, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(100, summary.steps());
    assertEquals("local-0", files.events("worker_lost").get(0).get("worker_id").asText());
    JsonNode reassigned = files.events("shard_reassigned").get(0);
    int shard = reassigned.get("shard").asInt();
    assertTrue(files.events("shard_completed").stream()
        .anyMatch(e -> e.get("shard").asInt() == shard && e.get("attempt").asInt() == 2),
        "the shard completed in its new attempt");
    assertTrue(files.events("shard_assigned").stream().filter(e -> e.get("worker_id").asText().equals("local-0"))
        .count() >= 2, "the worker that came back was given work again");
    assertTrue(Files.isDirectory(runsDir.resolve(runId + "/checkpoints/" + shard + "/attempt-1")));
    assertTrue(Files.isDirectory(runsDir.resolve(runId + "/checkpoints/" + shard + "/attempt-2")),
        "each attempt writes its own checkpoints, so the old one cannot overwrite the new one's");
  }

  @Test
  void fastModeWritesLifecycleEventsOnly() throws Exception {
    start(2);
    RunSummary summary = runToEnd("fast", "telemetry.enabled=false", "stub.step-time=0", "stub.samples=1000");

    assertEquals(RunState.COMPLETED, summary.status());
    RunFiles files = new RunFiles(runsDir.resolve("fast"));
    Set<String> types = files.events().stream().map(e -> e.get("type").asText()).collect(Collectors.toSet());
    assertTrue(LIFECYCLE_TYPES.containsAll(types), "only lifecycle events: " + types);
    assertTrue(types.contains("run_completed"));
    assertEquals(1, files.scalars().size(), "scalars.csv holds only its header");
    assertFalse(files.merges().isEmpty(), "hard examples are still merged in fast mode");
    assertEquals(0, files.runCompleted().get("dropped_events").asLong());
  }

  @Test
  void droppedStepEventsAreCountedAndReportedNeverLostSilently() throws Exception {
    start(2);
    // A tiny queue and one event per acknowledged batch: the training threads outrun the stream.
    RunSummary summary = runToEnd("drops", "stub.step-time=0", "stub.samples=20000", "epochs=1", "batch-size=10",
        "telemetry.buffer-size=16", "telemetry.batch-size=1", "checkpoint.every-steps=100000");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    RunFiles files = new RunFiles(runsDir.resolve("drops"));
    long written = files.events("step").size() + files.events("epoch").size() + files.events("eval").size();
    long dropped = files.runCompleted().get("dropped_events").asLong();
    assertTrue(dropped > 0, "the stream was outrun, so events were dropped");
    assertEquals(summary.droppedEvents(), dropped);
    assertEquals(2000 + 2 + 2, written + dropped, "every step, epoch and eval event is either written or counted");
  }

  @Test
  void plantedHardSamplesDominateTheFinalMerge() throws Exception {
    start(4);
    RunSummary summary = runToEnd("planted", "stub.step-time=0", "stub.samples=4000", "hard-examples.k=64",
        "seed=11", "hard-examples.window=run");
    assertEquals(RunState.COMPLETED, summary.status());

    List<JsonNode> merges = new RunFiles(runsDir.resolve("planted")).merges();
    JsonNode entries = merges.get(merges.size() - 1).get("entries");
    assertEquals(64, entries.size());
    long planted = 0;
    for (JsonNode entry : entries) {
      if (StubLossModel.isPlantedHard(entry.get("sample_id").asLong(), 11, 0.12)) planted++;
    }
    assertTrue(planted >= 0.9 * 64, "planted hard samples in the final merge: " + planted + " of 64");
  }

  @Test
  void sameSeedAndConfigGiveTheSameScalars() throws Exception {
    start(1);
    String[] config = {"stub.step-time=0", "stub.samples=600", "shards=2", "seed=5", "epochs=2"};
    runToEnd("first", config);
    runToEnd("second", config);
    assertEquals(withoutTimings(new RunFiles(runsDir.resolve("first")).scalars()),
        withoutTimings(new RunFiles(runsDir.resolve("second")).scalars()));
  }

  /** Drops the columns that measure time: samples_per_s and ts_unix_ns. */
  private static List<String> withoutTimings(List<String> rows) {
    return rows.stream().map(row -> {
      String[] cells = row.split(",", -1);
      return String.join(",", List.of(cells).subList(0, 7)) + "," + cells[8];
    }).collect(Collectors.toList());
  }

  @Test
  void aRunWithAnExistingIdIsRejectedAndNothingIsOverwritten() throws Exception {
    start(1);
    runToEnd("taken", "stub.step-time=0", "stub.samples=100");
    byte[] before = Files.readAllBytes(runsDir.resolve("taken/events.jsonl"));
    SubmitReply reply = cluster.submit(new RunSpec("taken", RunConfig.fromOverrides(List.of(), Map.of()).toHocon()))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Rejected, reply.toString());
    assertTrue(((SubmitReply.Rejected) reply).error().contains("taken"));
    assertEquals(new String(before), Files.readString(runsDir.resolve("taken/events.jsonl")));
  }

}
