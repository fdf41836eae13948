package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.ScriptedWorker.Script;
import io.quarry.coordinator.run.FailingFiles;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.ShardState;
import io.quarry.protocol.TelemetryEvent;
import io.quarry.protocol.WorkerCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run whose directory cannot be written, played with a {@link ScriptedWorker} through a real coordinator whose run
 * directories fail on demand ({@link FailingFiles}): telemetry is dropped and counted, a lifecycle record that cannot
 * be written fails the run, and a run actor that crashes leaves no watcher waiting.
 */
class RunDirectoryFailureTest {
  private static final Duration LONG = Duration.ofSeconds(30);
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path runsDir;
  private final ActorTestKit testKit = ActorTestKit.create(
      ConfigFactory.parseResources("coordinator-test.conf").withFallback(ConfigFactory.load()));
  private final FailingFiles files = new FailingFiles();
  private final Map<String, ActorRef<Object>> workers = new HashMap<>();
  private RunStore store;
  private ActorRef<CoordinatorCommand> coordinator;

  @BeforeEach
  void startCoordinator() {
    store = RunStores.open("sqlite:" + runsDir.resolve("quarry.db"));
    coordinator = testKit.spawn(Coordinator.create(store, runsDir, Clock.systemUTC(), files), "coordinator",
        Coordinator.DISPATCHER);
  }

  @AfterEach
  void shutDown() {
    testKit.shutdownTestKit();
    store.close();
  }

  private TestProbe<WorkerCommand> spawnWorker(String id) {
    TestProbe<WorkerCommand> monitor = testKit.createTestProbe(id + "-monitor");
    workers.put(id, testKit.spawn(ScriptedWorker.create(id, Script.MANUAL, monitor.getRef()), id));
    next(monitor, WorkerCommand.CoordinatorAnnounced.class);
    return monitor;
  }

  private TestProbe<RunUpdate> submitAndWatch(String runId, String hocon) {
    TestProbe<SubmitReply> reply = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.SubmitRun(new RunSpec(runId, hocon), reply.getRef()));
    assertInstanceOf(SubmitReply.Accepted.class, reply.receiveMessage(LONG));
    TestProbe<RunUpdate> updates = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.WatchRun(runId, updates.getRef()));
    return updates;
  }

  private static RunSummary finished(TestProbe<RunUpdate> updates) {
    RunUpdate last = updates.fishForMessage(LONG, update -> update instanceof RunUpdate.Finished
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    return ((RunUpdate.Finished) last).summary();
  }

  private static <T extends WorkerCommand> T next(TestProbe<WorkerCommand> monitor, Class<T> type) {
    return type.cast(monitor.fishForMessage(LONG, m -> type.isInstance(m)
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0));
  }

  /** Every event of the run, parsed: a line cut short fails the test. */
  private List<JsonNode> events(String runId) throws IOException {
    List<JsonNode> events = new ArrayList<>();
    for (String line : Files.readAllLines(runsDir.resolve(runId).resolve("events.jsonl"))) {
      events.add(JSON.readTree(line));
    }
    return events;
  }

  private List<JsonNode> events(String runId, String type) throws IOException {
    return events(runId).stream().filter(event -> event.get("type").asText().equals(type)).toList();
  }

  private RunStatus status(String runId) {
    TestProbe<CoordinatorCommand.RunStatusReply> reply = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.GetRun(runId, reply.getRef()));
    return reply.receiveMessage(LONG).status();
  }

  /** Polls the run's status (generous bound) until its shard 0 is RUNNING. */
  private void awaitRunning(String runId) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (status(runId).shards().get(0).state() != ShardState.RUNNING) {
      if (System.nanoTime() > deadline) throw new AssertionError("shard 0 of " + runId + " never ran");
      Thread.sleep(20);
    }
  }

  private String unwritable(String runId, String file) {
    return "cannot write the run directory " + runsDir.resolve(runId) + " (" + file + "): No space left on device";
  }

  @Test
  void dropsAndCountsTelemetryTheDirectoryCannotTakeAndTheRunGoesOn() throws Exception {
    TestProbe<WorkerCommand> a = spawnWorker("a");
    TestProbe<RunUpdate> updates = submitAndWatch("lossy", "shards = 1\nstub.samples = 100\nepochs = 1\nbatch-size = 10");
    WorkerCommand.AssignShard assigned = next(a, WorkerCommand.AssignShard.class);
    awaitRunning("lossy");
    files.fail("events.jsonl", FailingFiles.Failure.DISK_FULL).fail("scalars.csv", FailingFiles.Failure.DISK_FULL);

    TestProbe<RunCommand.TelemetryAck> acks = testKit.createTestProbe();
    assigned.run().tell(new RunCommand.TelemetryBatch("lossy", "a", 0, 1, 0, List.of(
        new TelemetryEvent.Step(1L, 0, 1, 0, 2.0f, 0.1f, 50f),
        new TelemetryEvent.Step(2L, 0, 2, 0, 1.9f, 0.1f, 50f),
        new TelemetryEvent.Epoch(3L, 0, 2, 0, 1.95f)), acks.getRef()));
    acks.receiveMessage(LONG);
    files.recover("events.jsonl");
    files.recover("scalars.csv");
    workers.get("a").tell(new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(5, summary.counters().get(RunCounter.TELEMETRY_UNWRITTEN), "3 events and 2 scalars rows");
    assertTrue(events("lossy", "step").isEmpty());
    JsonNode completed = events("lossy", "run_completed").get(0);
    assertEquals(5, completed.get("counters").get("telemetry_unwritten").asLong());
    assertEquals(RunState.COMPLETED, store.run("lossy").orElseThrow().status());
  }

  @Test
  void aMergeRecordThatCannotBeWrittenFailsTheRunWithWhereAndWhy() throws IOException {
    TestProbe<WorkerCommand> a = spawnWorker("a");
    files.fail("hard_examples.jsonl", FailingFiles.Failure.DISK_FULL);
    TestProbe<RunUpdate> updates = submitAndWatch("nomerge", "shards = 1\nstub.samples = 100\nepochs = 1\n"
        + "batch-size = 10\nhard-examples.merge-interval = 100ms");
    next(a, WorkerCommand.AssignShard.class);
    workers.get("a").tell(new ScriptedWorker.Progress(3, 1.5f, RunCounters.ZERO));

    String reason = unwritable("nomerge", "hard_examples.jsonl");
    assertEquals("run failed: " + reason, next(a, WorkerCommand.StopShard.class).reason(), "its attempt is stopped");
    RunSummary summary = finished(updates);

    assertEquals(RunState.FAILED, summary.status());
    assertEquals(reason, summary.reason());
    RunRecord stored = store.run("nomerge").orElseThrow();
    assertEquals(RunState.FAILED, stored.status());
    assertEquals(reason, stored.failureReason());
    JsonNode completed = events("nomerge", "run_completed").get(0);
    assertEquals("failed", completed.get("status").asText(), "events.jsonl could still be written");
    assertEquals(reason, completed.get("reason").asText());
  }

  @Test
  void aLifecycleEventThatCannotBeWrittenFailsTheRunAndEveryLineWrittenIsWhole() throws Exception {
    TestProbe<WorkerCommand> a = spawnWorker("a");
    TestProbe<RunUpdate> updates = submitAndWatch("full", "shards = 1\nstub.samples = 100\nepochs = 1\n"
        + "batch-size = 10\nmax-attempts = 3");
    next(a, WorkerCommand.AssignShard.class);
    awaitRunning("full");
    workers.get("a").tell(new ScriptedWorker.Progress(3, 1.5f, RunCounters.ZERO));
    files.fail("events.jsonl", FailingFiles.Failure.DISK_FULL);
    workers.get("a").tell(new ScriptedWorker.Fail("cannot write checkpoint x/step-4: No space left on device"));

    RunSummary summary = finished(updates);

    String reason = unwritable("full", "events.jsonl");
    assertEquals(RunState.FAILED, summary.status(), "not retried: the run cannot record its retries");
    assertEquals(reason, summary.reason());
    RunRecord stored = store.run("full").orElseThrow();
    assertEquals(RunState.FAILED, stored.status());
    assertEquals(reason, stored.failureReason());
    List<String> types = events("full").stream().map(event -> event.get("type").asText()).toList();
    assertEquals(List.of("run_submitted", "run_started", "shard_assigned", "shard_started"), types,
        "what was written before the disk filled, each line whole");
  }

  @Test
  void aRunActorThatCrashesEndsTheRunFailedInTheStoreAndForEveryWatcher() throws Exception {
    TestProbe<WorkerCommand> a = spawnWorker("a");
    TestProbe<RunUpdate> updates = submitAndWatch("crash", "shards = 1\nstub.samples = 100\nepochs = 1\nbatch-size = 10");
    next(a, WorkerCommand.AssignShard.class);
    awaitRunning("crash");
    files.fail("events.jsonl", FailingFiles.Failure.CRASH);

    workers.get("a").tell(new ScriptedWorker.Checkpoint(4));

    RunSummary summary = finished(updates);
    assertEquals(RunState.FAILED, summary.status());
    assertTrue(summary.reason().startsWith("the run actor stopped unexpectedly: java.lang.IllegalStateException: "
        + "injected crash writing events.jsonl"), summary.reason());
    assertTrue(next(a, WorkerCommand.StopShard.class).reason().startsWith("the run actor stopped unexpectedly"),
        "its attempt is stopped");
    RunRecord stored = store.run("crash").orElseThrow();
    assertEquals(RunState.FAILED, stored.status());
    assertEquals(summary.reason(), stored.failureReason());
    assertEquals(RunState.FAILED, status("crash").state());
    TestProbe<RunUpdate> late = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.WatchRun("crash", late.getRef()));
    assertEquals(RunState.FAILED, assertInstanceOf(RunUpdate.Finished.class, late.receiveMessage(LONG)).summary().status(),
        "a watcher that comes later is answered too");
  }
}
