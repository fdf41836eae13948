package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.ScriptedWorker.Script;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand.StopReply;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.WorkerCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run's lifecycle, played with {@link ScriptedWorker}s through a real coordinator: every message between actors is
 * serialized. The workers report what each test tells them to, so every transition happens when the test says.
 */
class RunLifecycleTest {
  private static final Duration LONG = Duration.ofSeconds(30);
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path runsDir;
  private final ActorTestKit testKit = ActorTestKit.create(
      ConfigFactory.parseResources("coordinator-test.conf").withFallback(ConfigFactory.load()));
  private RunStore store;
  private ActorRef<CoordinatorCommand> coordinator;

  @BeforeEach
  void startCoordinator() {
    store = RunStores.open("sqlite:" + runsDir.resolve("quarry.db"));
    coordinator = testKit.spawn(Coordinator.create(store, runsDir, Clock.systemUTC()), "coordinator",
        Coordinator.DISPATCHER);
  }

  @AfterEach
  void shutDown() {
    testKit.shutdownTestKit();
    store.close();
  }

  private final Map<String, ActorRef<Object>> refs = new HashMap<>();

  /** A worker playing {@code script}, announced to the coordinator; its probe sees every command it receives. */
  private TestProbe<WorkerCommand> spawnWorker(String id, Script script) {
    TestProbe<WorkerCommand> monitor = testKit.createTestProbe(id + "-monitor");
    refs.put(id, testKit.spawn(ScriptedWorker.create(id, script, monitor.getRef()), id));
    monitor.fishForMessage(LONG, m -> m instanceof WorkerCommand.CoordinatorAnnounced
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    return monitor;
  }

  private void submit(String runId, String hocon) {
    TestProbe<SubmitReply> reply = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.SubmitRun(new RunSpec(runId, hocon), reply.getRef()));
    assertInstanceOf(SubmitReply.Accepted.class, reply.receiveMessage(LONG));
  }

  private TestProbe<RunUpdate> watch(String runId) {
    TestProbe<RunUpdate> updates = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.WatchRun(runId, updates.getRef()));
    return updates;
  }

  private static RunSummary finished(TestProbe<RunUpdate> updates) {
    RunUpdate last = updates.fishForMessage(LONG, update -> update instanceof RunUpdate.Finished
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    return ((RunUpdate.Finished) last).summary();
  }

  /** The next command of type {@code type} the worker receives, skipping others. */
  private static <T extends WorkerCommand> T next(TestProbe<WorkerCommand> monitor, Class<T> type) {
    return type.cast(monitor.fishForMessage(LONG, m -> type.isInstance(m)
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0));
  }

  private List<JsonNode> events(String runId, String type) {
    List<JsonNode> events = new ArrayList<>();
    try {
      for (String line : Files.readAllLines(runsDir.resolve(runId).resolve("events.jsonl"))) {
        JsonNode event = JSON.readTree(line);
        if (event.get("type").asText().equals(type)) events.add(event);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return events;
  }

  /** Polls {@code hard_examples.jsonl} until a record matches; generous bound, no timing asserted. */
  private JsonNode awaitMergeRecord(String runId, Predicate<JsonNode> matches) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    Path file = runsDir.resolve(runId).resolve("hard_examples.jsonl");
    while (System.nanoTime() < deadline) {
      for (String line : Files.readAllLines(file)) {
        if (line.isBlank()) continue;
        JsonNode record = JSON.readTree(line);
        if (matches.test(record)) return record;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no merge record matched in " + Files.readString(file));
  }

  /** Polls the run's status until its shard 0 has recorded a checkpoint at {@code step}. */
  private void awaitCheckpoint(String runId, long step) {
    TestProbe<CoordinatorCommand.RunStatusReply> status = testKit.createTestProbe();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      coordinator.tell(new CoordinatorCommand.GetRun(runId, status.getRef()));
      if (status.receiveMessage(LONG).status().shards().get(0).checkpointStep() == step) return;
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
    throw new AssertionError("shard 0 of " + runId + " never recorded its checkpoint at step " + step);
  }

  private void tell(String workerId, ScriptedWorker.Control control) {
    refs.get(workerId).tell(control);
  }

  @Test
  void assignsEveryShardToTheWorkersThatAskAndCompletesWhenEveryShardIsDone() {
    TestProbe<WorkerCommand> a = spawnWorker("a", Script.MANUAL);
    TestProbe<WorkerCommand> b = spawnWorker("b", Script.MANUAL);
    submit("two", "shards = 2\nstub.samples = 100\nepochs = 1\nbatch-size = 10");
    TestProbe<RunUpdate> updates = watch("two");

    WorkerCommand.AssignShard toA = next(a, WorkerCommand.AssignShard.class);
    WorkerCommand.AssignShard toB = next(b, WorkerCommand.AssignShard.class);
    assertNotEquals(toA.assignment().shard(), toB.assignment().shard(), "each worker has a shard of its own");
    assertEquals(1, toA.assignment().attempt());
    assertNull(toA.assignment().resumeFrom());
    assertEquals(50, toA.assignment().sampleCount());
    tell("a", new ScriptedWorker.Complete(RunCounters.ZERO));
    tell("b", new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(10, summary.steps(), "2 shards of 5 steps");
    assertEquals(2, events("two", "shard_assigned").size());
    assertEquals(2, events("two", "shard_completed").size());
    assertEquals(1, events("two", "run_completed").size());
  }

  @Test
  void retriesAFailedShardFromItsLastCheckpoint() {
    TestProbe<WorkerCommand> a = spawnWorker("a", Script.MANUAL);
    submit("retry", "shards = 1\nstub.samples = 100\nepochs = 1\nbatch-size = 10\nmax-attempts = 3");
    TestProbe<RunUpdate> updates = watch("retry");

    WorkerCommand.AssignShard first = next(a, WorkerCommand.AssignShard.class);
    tell("a", new ScriptedWorker.Progress(4, 1.5f, RunCounters.ZERO));
    tell("a", new ScriptedWorker.Checkpoint(4));
    tell("a", new ScriptedWorker.Progress(6, 1.4f, RunCounters.ZERO));
    tell("a", new ScriptedWorker.Fail("CUDA out of memory"));

    WorkerCommand.AssignShard second = next(a, WorkerCommand.AssignShard.class);
    assertEquals(first.assignment().shard(), second.assignment().shard());
    assertEquals(2, second.assignment().attempt());
    assertEquals(4, second.assignment().resumeStep(), "resumes from its checkpoint");
    assertEquals(first.assignment().checkpointDir() + "/step-4", second.assignment().resumeFrom());
    assertNotEquals(first.assignment().checkpointDir(), second.assignment().checkpointDir(),
        "each attempt checkpoints into its own directory");
    tell("a", new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(2, summary.stepsRedone(), "steps 5 and 6 were trained twice");
    assertEquals(1, summary.counters().get(RunCounter.SHARD_RETRIES));
    assertEquals("CUDA out of memory", events("retry", "shard_failed").get(0).get("reason").asText());
    assertEquals(4, events("retry", "shard_retried").get(0).get("resume_step").asLong());
  }

  private static final String PROCESS_GROUP = "trainer = process\nprocess.command = [\"python3\", \"ddp.py\"]\n"
      + "process.distributed = torch\nprocess.ranks = 2\nprocess.samples = 200\nepochs = 1\nbatch-size = 10\n";

  /** The next assignment either worker receives, and which worker: rank 0 goes to whichever the gang offered first. */
  private static Map.Entry<String, WorkerCommand.AssignShard> nextAssign(Map<String, TestProbe<WorkerCommand>> monitors) {
    long deadline = System.nanoTime() + LONG.toNanos();
    while (System.nanoTime() < deadline) {
      for (Map.Entry<String, TestProbe<WorkerCommand>> monitor : monitors.entrySet()) {
        WorkerCommand command;
        try {
          command = monitor.getValue().receiveMessage(Duration.ofMillis(50));
        } catch (AssertionError nothingYet) {
          continue;
        }
        if (command instanceof WorkerCommand.AssignShard assign) return Map.entry(monitor.getKey(), assign);
      }
    }
    throw new AssertionError("no worker was assigned a shard within " + LONG);
  }

  /** Plays rank 0's worker: it picked {@code port} for the rendezvous. */
  private static void rankEndpoint(String workerId, WorkerCommand.AssignShard rankZero, int port) {
    rankZero.run().tell(new io.quarry.protocol.RunCommand.RankEndpoint(rankZero.spec().runId(), 0,
        rankZero.assignment().attempt(), workerId, "10.0.0.1", port));
  }

  @Test
  void aProcessGroupStartsRankZeroFirstAndRestartsEveryRankFromItsCheckpointWhenOneFails() {
    Map<String, TestProbe<WorkerCommand>> monitors = new java.util.LinkedHashMap<>();
    monitors.put("a", spawnWorker("a", Script.MANUAL.allowingAnyProgram()));
    monitors.put("b", spawnWorker("b", Script.MANUAL.allowingAnyProgram()));
    submit("group", PROCESS_GROUP + "max-attempts = 2");
    TestProbe<RunUpdate> updates = watch("group");

    Map.Entry<String, WorkerCommand.AssignShard> zero = nextAssign(monitors);
    assertEquals(0, zero.getValue().assignment().rank().rank());
    assertEquals(0, zero.getValue().assignment().rank().masterPort(), "rank 0's worker picks the port");
    rankEndpoint(zero.getKey(), zero.getValue(), 29_511);
    Map.Entry<String, WorkerCommand.AssignShard> one = nextAssign(monitors);
    assertNotEquals(zero.getKey(), one.getKey());
    io.quarry.protocol.DistributedRank rank1 = one.getValue().assignment().rank();
    assertEquals(1, rank1.rank());
    assertEquals(2, rank1.worldSize());
    assertEquals("10.0.0.1", rank1.masterAddr(), "only sent once rank 0's endpoint is known");
    assertEquals(29_511, rank1.masterPort());
    assertEquals(0, rank1.restartCount());
    assertEquals(1, rank1.maxRestarts());
    tell(zero.getKey(), new ScriptedWorker.Progress(4, 1.5f, RunCounters.ZERO));
    tell(zero.getKey(), new ScriptedWorker.Checkpoint(4));
    tell(zero.getKey(), new ScriptedWorker.Progress(6, 1.4f, RunCounters.ZERO));
    tell(one.getKey(), new ScriptedWorker.Progress(6, 1.4f, RunCounters.ZERO));

    tell(one.getKey(), new ScriptedWorker.Fail("exit code 137"));

    next(monitors.get(zero.getKey()), WorkerCommand.StopShard.class);
    Map.Entry<String, WorkerCommand.AssignShard> zeroAgain = nextAssign(monitors);
    assertEquals(0, zeroAgain.getValue().assignment().shard());
    assertEquals(1, zeroAgain.getValue().assignment().rank().restartCount());
    assertEquals(zero.getValue().assignment().checkpointDir() + "/step-4", zeroAgain.getValue().assignment().resumeFrom());
    rankEndpoint(zeroAgain.getKey(), zeroAgain.getValue(), 29_512);
    Map.Entry<String, WorkerCommand.AssignShard> oneAgain = nextAssign(monitors);
    assertEquals(1, oneAgain.getValue().assignment().shard());
    assertEquals(4, oneAgain.getValue().assignment().resumeStep(), "every rank from rank 0's checkpoint");
    assertEquals(zero.getValue().assignment().checkpointDir() + "/step-4", oneAgain.getValue().assignment().resumeFrom());
    assertEquals(29_512, oneAgain.getValue().assignment().rank().masterPort());
    tell(zeroAgain.getKey(), new ScriptedWorker.Complete(RunCounters.ZERO));
    tell(oneAgain.getKey(), new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(1, summary.counters().get(RunCounter.GROUP_RESTARTS));
    assertEquals(2 * 2, summary.stepsRedone(), "steps 5 and 6 of both ranks were trained twice");
    JsonNode restarted = events("group", "group_restarted").get(0);
    assertTrue(restarted.get("cause").asText().contains("rank 1 failed") && restarted.get("cause").asText()
        .contains("exit code 137"), restarted.toString());
    assertEquals(4, restarted.get("resume_step").asLong());
    assertEquals(2, restarted.get("steps_lost").asLong());
    assertEquals(1, events("group", "shard_failed").size(), "the stopped rank did not fail");
    assertEquals(2, events("group", "group_started").size());
  }

  @Test
  void anElasticGroupThatLostAWorkerRestartsSmallerAfterTheLastCallAndGrowsBackAtTheNextRestart() {
    Map<String, TestProbe<WorkerCommand>> monitors = new java.util.LinkedHashMap<>();
    monitors.put("a", spawnWorker("a", Script.MANUAL.allowingAnyProgram()));
    monitors.put("b", spawnWorker("b", Script.MANUAL.allowingAnyProgram()));
    // 200 samples, batches of 10, 1 epoch: 10 steps a rank of 2, 20 for a rank alone.
    submit("elastic", PROCESS_GROUP + "process.min-ranks = 1\nprocess.last-call = 200ms\nmax-attempts = 3");
    TestProbe<RunUpdate> updates = watch("elastic");
    Map.Entry<String, WorkerCommand.AssignShard> zero = nextAssign(monitors);
    rankEndpoint(zero.getKey(), zero.getValue(), 29_521);
    Map.Entry<String, WorkerCommand.AssignShard> one = nextAssign(monitors);
    tell(zero.getKey(), new ScriptedWorker.Progress(4, 1.5f, RunCounters.ZERO));
    tell(zero.getKey(), new ScriptedWorker.Checkpoint(4));
    tell(zero.getKey(), new ScriptedWorker.Progress(6, 1.4f, RunCounters.ZERO));
    tell(one.getKey(), new ScriptedWorker.Progress(6, 1.4f, RunCounters.ZERO));
    awaitCheckpoint("elastic", 4);

    testKit.stop(refs.get(one.getKey())); // no other worker is free: after the last call, rank 0's worker alone

    WorkerCommand.AssignShard alone = next(monitors.get(zero.getKey()), WorkerCommand.AssignShard.class);
    assertEquals(1, alone.assignment().rank().worldSize());
    assertEquals(1, alone.assignment().rank().restartCount());
    assertEquals(1, alone.assignment().shards(), "QUARRY_SHARDS is the world size");
    assertEquals(List.of(0L, 200L), List.of(alone.assignment().firstSample(), alone.assignment().sampleCount()),
        "RANK 0 of WORLD_SIZE 1 takes every sample");
    assertEquals(8, alone.assignment().resumeStep(), "step 4 of 2 ranks is step 8 of one");
    assertEquals(zero.getValue().assignment().checkpointDir() + "/step-4", alone.assignment().resumeFrom());
    rankEndpoint(zero.getKey(), alone, 29_522);
    tell(zero.getKey(), new ScriptedWorker.Progress(12, 1.2f, RunCounters.ZERO));
    tell(zero.getKey(), new ScriptedWorker.Checkpoint(12));
    tell(zero.getKey(), new ScriptedWorker.Progress(14, 1.1f, RunCounters.ZERO));
    monitors.remove(one.getKey());
    monitors.put("c", spawnWorker("c", Script.MANUAL.allowingAnyProgram()));

    tell(zero.getKey(), new ScriptedWorker.Fail("gloo: connection reset"));

    Map.Entry<String, WorkerCommand.AssignShard> zeroAgain = nextAssign(monitors);
    assertEquals(2, zeroAgain.getValue().assignment().rank().worldSize(), "grown back at the next restart");
    assertEquals(6, zeroAgain.getValue().assignment().resumeStep(), "step 12 of one rank is step 6 of 2");
    rankEndpoint(zeroAgain.getKey(), zeroAgain.getValue(), 29_523);
    Map.Entry<String, WorkerCommand.AssignShard> oneAgain = nextAssign(monitors);
    assertNotEquals(zeroAgain.getKey(), oneAgain.getKey());
    assertEquals(List.of(100L, 100L), List.of(oneAgain.getValue().assignment().firstSample(),
        oneAgain.getValue().assignment().sampleCount()));
    assertEquals(2, oneAgain.getValue().assignment().shards());
    tell(zeroAgain.getKey(), new ScriptedWorker.Complete(RunCounters.ZERO));
    tell(oneAgain.getKey(), new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(2, summary.counters().get(RunCounter.GROUP_RESTARTS));
    assertEquals(20, summary.steps(), "10 steps of each of the 2 ranks");
    assertEquals(2 * 2 + 2, summary.stepsRedone(),
        "steps 5-6 of both ranks of the first start, and steps 13-14 of the rank alone");
    List<JsonNode> groups = events("elastic", "group_started");
    assertEquals(List.of(2, 1, 2), groups.stream().map(group -> group.get("world_size").asInt()).toList());
    assertEquals(2, groups.get(1).get("ranks").asInt());
    assertTrue(groups.get(1).get("smaller_because").asText().contains("process.min-ranks = 1"), groups.toString());
    assertFalse(groups.get(2).has("smaller_because"), groups.toString());
  }

  @Test
  void aRankZeroLostBeforeItsEndpointEndsTheOtherRanksUntoldAndTheGroupStartsAgain() {
    Map<String, TestProbe<WorkerCommand>> monitors = new java.util.LinkedHashMap<>();
    monitors.put("a", spawnWorker("a", Script.MANUAL.allowingAnyProgram()));
    monitors.put("b", spawnWorker("b", Script.MANUAL.allowingAnyProgram()));
    submit("early", PROCESS_GROUP + "max-attempts = 2");
    TestProbe<RunUpdate> updates = watch("early");
    Map.Entry<String, WorkerCommand.AssignShard> zero = nextAssign(monitors);

    tell(zero.getKey(), new ScriptedWorker.Fail("cannot find a free port for the process group's rendezvous"));

    // Rank 1's worker was told nothing; it is given back and the group gathers both workers again.
    Map.Entry<String, WorkerCommand.AssignShard> zeroAgain = nextAssign(monitors);
    assertEquals(0, zeroAgain.getValue().assignment().shard());
    assertEquals(1, zeroAgain.getValue().assignment().rank().restartCount());
    rankEndpoint(zeroAgain.getKey(), zeroAgain.getValue(), 29_514);
    Map.Entry<String, WorkerCommand.AssignShard> one = nextAssign(monitors);
    assertEquals(1, one.getValue().assignment().shard());
    tell(zeroAgain.getKey(), new ScriptedWorker.Complete(RunCounters.ZERO));
    tell(one.getKey(), new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(1, events("early", "group_restarted").size());
  }

  @Test
  void aProcessGroupStoppedBeforeRankZerosEndpointEndsStopped() {
    Map<String, TestProbe<WorkerCommand>> monitors = new java.util.LinkedHashMap<>();
    monitors.put("a", spawnWorker("a", Script.MANUAL.allowingAnyProgram()));
    monitors.put("b", spawnWorker("b", Script.MANUAL.allowingAnyProgram()));
    submit("halted", PROCESS_GROUP);
    TestProbe<RunUpdate> updates = watch("halted");
    Map.Entry<String, WorkerCommand.AssignShard> zero = nextAssign(monitors);

    TestProbe<StopReply> reply = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.StopRun("halted", "changed my mind", reply.getRef()));

    assertTrue(reply.receiveMessage(LONG).accepted());
    RunSummary summary = finished(updates);
    assertEquals(RunState.STOPPED, summary.status(), summary.reason());
    rankEndpoint(zero.getKey(), zero.getValue(), 29_515); // too late: nobody is told to start
    String other = zero.getKey().equals("a") ? "b" : "a";
    long until = System.nanoTime() + Duration.ofMillis(500).toNanos();
    while (System.nanoTime() < until) {
      try {
        WorkerCommand command = monitors.get(other).receiveMessage(Duration.ofMillis(100));
        assertFalse(command instanceof WorkerCommand.AssignShard, "rank 1 must never go out: " + command);
      } catch (AssertionError nothing) {
        if (nothing.getMessage() != null && nothing.getMessage().startsWith("rank 1")) throw nothing;
      }
    }
  }

  @Test
  void aProcessGroupThatStartedMaxAttemptsTimesFailsTheRunOnItsNextLoss() {
    Map<String, TestProbe<WorkerCommand>> monitors = new java.util.LinkedHashMap<>();
    monitors.put("a", spawnWorker("a", Script.MANUAL.allowingAnyProgram()));
    monitors.put("b", spawnWorker("b", Script.MANUAL.allowingAnyProgram()));
    submit("once", PROCESS_GROUP + "max-attempts = 1");
    TestProbe<RunUpdate> updates = watch("once");
    Map.Entry<String, WorkerCommand.AssignShard> zero = nextAssign(monitors);
    rankEndpoint(zero.getKey(), zero.getValue(), 29_513);
    Map.Entry<String, WorkerCommand.AssignShard> one = nextAssign(monitors);

    tell(zero.getKey(), new ScriptedWorker.Fail("gloo: connection closed by peer"));

    next(monitors.get(one.getKey()), WorkerCommand.StopShard.class);
    RunSummary summary = finished(updates);
    assertEquals(RunState.FAILED, summary.status());
    assertTrue(summary.reason().contains("max-attempts = 1") && summary.reason().contains("rank 0 failed"),
        summary.reason());
    assertEquals(0, events("once", "group_restarted").size());
  }

  @Test
  void reassignsTheShardOfALostWorkerWhichResumesFromItsCheckpoint() {
    TestProbe<WorkerCommand> a = spawnWorker("a", Script.MANUAL);
    submit("lost", "shards = 1\nstub.samples = 100\nepochs = 1\nbatch-size = 10");
    TestProbe<RunUpdate> updates = watch("lost");
    WorkerCommand.AssignShard first = next(a, WorkerCommand.AssignShard.class);
    tell("a", new ScriptedWorker.Checkpoint(3));
    awaitCheckpoint("lost", 3);
    TestProbe<WorkerCommand> b = spawnWorker("b", Script.MANUAL);

    testKit.stop(refs.get("a"));

    WorkerCommand.AssignShard second = next(b, WorkerCommand.AssignShard.class);
    assertEquals(2, second.assignment().attempt());
    assertEquals(3, second.assignment().resumeStep());
    assertEquals(first.assignment().checkpointDir() + "/step-3", second.assignment().resumeFrom());
    tell("b", new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(1, summary.counters().get(RunCounter.SHARDS_REASSIGNED));
    assertEquals("a", events("lost", "worker_lost").get(0).get("worker_id").asText());
    JsonNode reassigned = events("lost", "shard_reassigned").get(0);
    assertEquals("a", reassigned.get("from_worker").asText());
    assertEquals(3, reassigned.get("resume_step").asLong());
  }

  @Test
  void stopsARunningRunByStoppingItsShards() {
    TestProbe<WorkerCommand> a = spawnWorker("a", Script.MANUAL);
    submit("halt", "shards = 1\nstub.samples = 100\nepochs = 1\nbatch-size = 10");
    TestProbe<RunUpdate> updates = watch("halt");
    next(a, WorkerCommand.AssignShard.class);
    tell("a", new ScriptedWorker.Progress(2, 1.0f, RunCounters.ZERO));

    TestProbe<StopReply> stopped = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.StopRun("halt", "enough", stopped.getRef()));

    assertTrue(stopped.receiveMessage(LONG).accepted());
    assertEquals("run stopped: enough", next(a, WorkerCommand.StopShard.class).reason());
    RunSummary summary = finished(updates);
    assertEquals(RunState.STOPPED, summary.status());
    assertEquals("enough", summary.reason());
    assertEquals(1, events("halt", "run_stopping").size());
    coordinator.tell(new CoordinatorCommand.StopRun("halt", "again", stopped.getRef()));
    assertFalse(stopped.receiveMessage(LONG).accepted(), "an ended run cannot be stopped");
  }

  @Test
  void aMergeNamesTheWorkerThatNeverAnswersAsMissing() throws Exception {
    spawnWorker("talker", Script.MANUAL);
    TestProbe<WorkerCommand> silent = spawnWorker("silent", Script.MANUAL.silentInMerges());
    submit("merge", "shards = 2\nstub.samples = 100\nepochs = 1\nbatch-size = 10\n"
        + "hard-examples.merge-interval = 200ms\nhard-examples.merge-timeout = 300ms");
    next(silent, WorkerCommand.CollectHardExamples.class);

    JsonNode record = awaitMergeRecord("merge", r -> r.get("missing").size() > 0);

    assertEquals("silent", record.get("missing").get(0).asText());
    assertEquals("timeout: no answer within hard-examples.merge-timeout = 300ms",
        record.get("missing_why").get("silent").asText());
    assertEquals("talker", record.get("workers").get(0).asText(), "the merge went on without it");
  }

  @Test
  void aWorkerLostWhileAMergeGathersIsLeftOutAsLostAtOnce() throws Exception {
    TestProbe<WorkerCommand> a = spawnWorker("a", Script.MANUAL);
    TestProbe<WorkerCommand> mute = spawnWorker("mute", Script.MANUAL.silentInMerges());
    submit("gone", "shards = 2\nstub.samples = 100\nepochs = 1\nbatch-size = 10\n"
        + "hard-examples.merge-interval = 200ms\nhard-examples.merge-timeout = 1h");
    next(a, WorkerCommand.AssignShard.class);
    next(mute, WorkerCommand.CollectHardExamples.class);

    testKit.stop(refs.get("mute"));

    // Within the test's bound, not the hour's timeout: the merge stops waiting for a worker once it is lost.
    JsonNode record = awaitMergeRecord("gone", r -> r.get("missing").size() > 0);
    assertEquals("mute", record.get("missing").get(0).asText());
    assertTrue(record.get("missing_why").get("mute").asText().startsWith("lost: "), record.toString());
    assertEquals(List.of("a"), List.of(record.get("workers").get(0).asText()));
  }

  @Test
  void aRunWhoseMergesNeverHeardFromAnyWorkerSaysSoInItsSummary() {
    TestProbe<WorkerCommand> mute = spawnWorker("mute", Script.MANUAL.silentInMerges());
    submit("unheard", "shards = 1\nstub.samples = 100\nepochs = 1\nbatch-size = 10\n"
        + "hard-examples.merge-interval = 100ms\nhard-examples.merge-timeout = 100ms");
    TestProbe<RunUpdate> updates = watch("unheard");
    next(mute, WorkerCommand.AssignShard.class);
    tell("mute", new ScriptedWorker.Progress(10, 1.0f, RunCounters.ZERO));
    next(mute, WorkerCommand.CollectHardExamples.class);

    tell("mute", new ScriptedWorker.Complete(RunCounters.ZERO));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), "the training itself completed");
    assertTrue(summary.hardest().isEmpty());
    long merges = summary.counters().get(RunCounter.MERGES);
    assertTrue(merges >= 1);
    assertEquals(merges, summary.counters().get(RunCounter.MERGES_UNANSWERED));
    assertTrue(summary.hardExamplesWarning().startsWith("no hard examples: "), summary.hardExamplesWarning());
    assertTrue(summary.hardExamplesWarning().contains("mute: timeout: no answer"), summary.hardExamplesWarning());
    JsonNode completed = events("unheard", "run_completed").get(0);
    assertEquals(summary.hardExamplesWarning(), completed.get("hard_examples_warning").asText());
    assertTrue(completed.get("last_missing_why").has("mute"));
  }

  @Test
  void completesOnlyAfterTheFinalMergeAndThePayloadsOfItsEntries() {
    TestProbe<WorkerCommand> a = spawnWorker("a", Script.MANUAL);
    submit("final", "shards = 1\nstub.samples = 100\nepochs = 1\nbatch-size = 10\n"
        + "hard-examples.merge-interval = 1h");
    TestProbe<RunUpdate> updates = watch("final");
    next(a, WorkerCommand.AssignShard.class);
    tell("a", new ScriptedWorker.Progress(10, 1.0f, RunCounters.ZERO));

    tell("a", new ScriptedWorker.Complete(RunCounters.ZERO));
    int merge = next(a, WorkerCommand.CollectHardExamples.class).merge();
    WorkerCommand.MergedHardExamples merged = next(a, WorkerCommand.MergedHardExamples.class);
    assertEquals(merge, merged.merge());
    assertEquals(1, merged.entries().size(), "the worker's entry survived the merge");

    tell("a", new ScriptedWorker.SendPayloads(merge));

    RunSummary summary = finished(updates);
    assertEquals(RunState.COMPLETED, summary.status(), summary.reason());
    assertEquals(1, summary.counters().get(RunCounter.PAYLOADS_WRITTEN),
        "the run waited for the payloads (an ended run writes none)");
    assertEquals(1, summary.counters().get(RunCounter.MERGES));
    assertTrue(Files.exists(runsDir.resolve("final/hard_examples/payloads.jsonl")));
    assertEquals(1, events("final", "run_completed").get(0).get("payloads").asInt());
  }

  @Test
  void findsAStragglerFromLifecycleReportsWithTelemetryOff() {
    spawnWorker("fast", Script.MANUAL.pacedAt(Duration.ofMillis(20)));
    spawnWorker("slow", Script.MANUAL.pacedAt(Duration.ofMillis(400)));
    submit("lagging", "shards = 2\nstub.samples = 4000\nepochs = 1\nbatch-size = 10\ntelemetry.enabled = false\n"
        + "stragglers.window = 500ms\nstragglers.factor = 2.0");
    TestProbe<RunUpdate> updates = watch("lagging");

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (events("lagging", "straggler").isEmpty() && System.nanoTime() < deadline) {
      updates.receiveMessage(LONG);
    }
    assertFalse(events("lagging", "straggler").isEmpty(), "no straggler found");
    JsonNode straggler = events("lagging", "straggler").get(0);
    assertEquals("slow", straggler.get("worker_id").asText());
    assertTrue(straggler.get("step_time_ms").asDouble() > 2 * straggler.get("median_step_time_ms").asDouble(),
        straggler.toString());
    assertTrue(events("lagging", "step").isEmpty(), "telemetry is off: no step events");
    coordinator.tell(new CoordinatorCommand.StopRun("lagging", "found it", testKit.<StopReply>createTestProbe().getRef()));
    assertEquals(RunState.STOPPED, finished(updates).status());
  }
}
