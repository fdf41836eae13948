package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.SnapshotAssembly;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.trainer.LabellingTestTrainer;
import io.quarry.worker.trainer.Payload;
import io.quarry.worker.trainer.TrainerRegistry;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The worker actor against probes standing in for the coordinator and the run: the protocol, message by message. */
class WorkerTest {
  private static final ActorTestKit testKit = ActorTestKit.create(ConfigFactory
      .parseString("pekko.actor.serialize-messages = on\nquarry.worker.progress-interval = 100ms\n"
          + "quarry.worker.host-report-interval = 0s")
      .withFallback(ConfigFactory.load()));

  @TempDir Path checkpoints;

  @AfterAll
  static void shutDown() {
    testKit.shutdownTestKit();
  }

  /** A run stand-in that acknowledges telemetry like the run actor and forwards everything to a probe. */
  private static ActorRef<RunCommand> run(TestProbe<RunCommand> probe) {
    return testKit.spawn(Behaviors.receive(RunCommand.class)
        .onMessage(RunCommand.TelemetryBatch.class, batch -> {
          batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
          probe.getRef().tell(batch);
          return Behaviors.same();
        })
        .onAnyMessage(message -> {
          probe.getRef().tell(message);
          return Behaviors.same();
        })
        .build());
  }

  private WorkerCommand.AssignShard assign(long incarnation, ActorRef<RunCommand> run, String... overrides) {
    RunConfig config = RunConfig.fromOverrides(List.of(overrides), Map.of());
    ShardAssignment assignment = new ShardAssignment(0, 1, 1, 0, 100, checkpoints.toString(), null, 0);
    return new WorkerCommand.AssignShard(incarnation, new RunSpec("r1", config.toHocon()), assignment, run);
  }

  @Test
  void asksForWorkWhenACoordinatorAnnouncesItself() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-announce", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(7, coordinator.getRef()));

    CoordinatorCommand.RequestWork request = coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    assertEquals(7, request.incarnation());
    assertEquals("w-announce", request.workerId());
    assertEquals("cpu", request.device());
    assertEquals(worker, request.worker());
  }

  @Test
  void ignoresMessagesFromAnOlderCoordinatorIncarnation() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-fenced", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(10, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);

    worker.tell(assign(9, run(runProbe), "stub.step-time=0"));
    runProbe.expectNoMessage(Duration.ofMillis(300));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(8, coordinator.getRef()));
    coordinator.expectNoMessage(Duration.ofMillis(200));
  }

  @Test
  void anAttemptWhoseCoordinatorsNodeIsUnreachableStopsAtOnceAndWritesNothingMore() throws Exception {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-unreachable", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    worker.tell(assign(1, run(runProbe), "stub.step-time=20ms", "epochs=50", "batch-size=10",
        "checkpoint.every-steps=2"));
    RunCommand message;
    do {
      message = runProbe.receiveMessage(Duration.ofSeconds(20));
    } while (!(message instanceof RunCommand.ShardCheckpointed));

    // Another node's unreachability changes nothing; the coordinator's fences the attempt.
    worker.tell(new Worker.NodeUnreachable("pekko://elsewhere@10.0.0.9:2552"));
    worker.tell(new Worker.NodeUnreachable(coordinator.getRef().path().address().toString()));
    long fencedAt = System.nanoTime();
    List<RunCommand> after = new ArrayList<>();
    do {
      message = runProbe.receiveMessage(Duration.ofSeconds(10));
      after.add(message);
    } while (!(message instanceof RunCommand.ShardStopped) && !(message instanceof RunCommand.ShardCompleted));
    assertTrue(message instanceof RunCommand.ShardStopped, after.toString());
    assertTrue(System.nanoTime() - fencedAt < TimeUnit.SECONDS.toNanos(5), "stopped within a step or so");
    java.nio.file.Path dir = java.nio.file.Path.of(checkpoints.toString());
    Thread.sleep(300);
    long checkpointsNow;
    try (var steps = java.nio.file.Files.list(dir)) {
      checkpointsNow = steps.filter(p -> p.getFileName().toString().startsWith("step-")).count();
    }
    Thread.sleep(500);
    try (var steps = java.nio.file.Files.list(dir)) {
      assertEquals(checkpointsNow, steps.filter(p -> p.getFileName().toString().startsWith("step-")).count(),
          "nothing written after the stop");
    }
  }

  @Test
  void aFencedAttemptIsNotOfferedToANewCoordinatorButItsEndIsRedeliveredThere() {
    TestProbe<CoordinatorCommand> oldCoordinator = testKit.createTestProbe();
    TestProbe<CoordinatorCommand> newCoordinator = testKit.createTestProbe();
    TestProbe<RunCommand> oldRun = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-fenced-over", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, oldCoordinator.getRef()));
    oldCoordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    worker.tell(assign(1, run(oldRun), "stub.step-time=200ms", "epochs=50", "batch-size=10",
        "checkpoint.every-steps=1"));
    receiveUntil(oldRun, RunCommand.ShardCheckpointed.class);

    // The old coordinator's node is lost; the new one announces itself while the attempt is still in its step.
    worker.tell(new Worker.NodeUnreachable(oldCoordinator.getRef().path().address().toString()));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(2, newCoordinator.getRef()));
    CoordinatorCommand first = newCoordinator.receiveMessage(Duration.ofSeconds(10));
    assertTrue(first instanceof CoordinatorCommand.Redeliver, "no adoption offer, the end redelivered: " + first);
    CoordinatorCommand.Redeliver redelivered = (CoordinatorCommand.Redeliver) first;
    assertEquals(2, redelivered.incarnation());
    RunCommand.ShardStopped stopped = (RunCommand.ShardStopped) redelivered.report();
    assertEquals(List.of("r1", 0, 1), List.of(stopped.runId(), stopped.shard(), stopped.attempt()));
    assertTrue(stopped.stepsTrained() >= 1 && stopped.endStep() == stopped.stepsTrained(), stopped.toString());
    assertEquals(2, newCoordinator.expectMessageClass(CoordinatorCommand.RequestWork.class).incarnation());
    receiveUntil(oldRun, RunCommand.ShardStopped.class); // sent where the attempt reported, too
  }

  @Test
  void aRunWhoseProgramTheWorkerDoesNotAllowIsRefusedOnceAndNothingRuns() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-refuse", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    CoordinatorCommand.RequestWork request = coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    assertEquals(io.quarry.protocol.WorkerAllowance.NOTHING, request.allowance(), "a worker allows nothing by default");

    worker.tell(assign(1, run(runProbe), "trainer=process",
        "process.command=[\"/bin/sh\", \"-c\", \"touch /tmp/quarry-refused-ran\"]"));

    RunCommand.ShardRefused refused = runProbe.expectMessageClass(RunCommand.ShardRefused.class);
    assertTrue(refused.reason().contains("'/bin/sh'") && refused.reason().contains("--allow-program"), refused.reason());
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    runProbe.expectNoMessage(Duration.ofMillis(300));
    assertFalse(java.nio.file.Files.exists(java.nio.file.Path.of("/tmp/quarry-refused-ran")));
  }

  @Test
  void anUnusableCheckpointCostsTheShardNoAttemptTheAttemptGoesOnFromAnOlderOne() throws Exception {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-fallback", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    // A first attempt of the shard ran to step 10 and checkpointed; then, at step 20, a checkpoint whose manifest
    // belongs to another trainer (a run directory reused by mistake): complete, but unusable by the stub.
    RunConfig config = RunConfig.fromOverrides(List.of("stub.step-time=0", "epochs=1", "batch-size=5",
        "checkpoint.every-steps=10"), Map.of());
    Path shardDir = checkpoints.resolve("0");
    worker.tell(new WorkerCommand.AssignShard(1, new RunSpec("r-fb", config.toHocon()),
        new ShardAssignment(0, 1, 1, 0, 100, shardDir.resolve("attempt-1").toString(), null, 0), run(runProbe)));
    RunCommand first;
    do {
      first = runProbe.receiveMessage(Duration.ofSeconds(20));
    } while (!(first instanceof RunCommand.ShardCompleted));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    new io.quarry.worker.checkpoint.CheckpointStore(shardDir.resolve("attempt-1"), 10).save(
        new io.quarry.worker.checkpoint.CheckpointManifest(20, 0, 20, 1, Double.NaN, "not-the-stub", 0, Map.of()),
        io.quarry.worker.checkpoint.CheckpointStore.FileWriter.NONE);

    worker.tell(new WorkerCommand.AssignShard(1, new RunSpec("r-fb", config.toHocon()),
        new ShardAssignment(0, 1, 2, 0, 100, shardDir.resolve("attempt-2").toString(),
            shardDir.resolve("attempt-1/step-10").toString(), 10), run(runProbe)));

    List<RunCommand> received = new ArrayList<>();
    RunCommand message;
    do {
      message = runProbe.receiveMessage(Duration.ofSeconds(20));
      received.add(message);
    } while (!(message instanceof RunCommand.ShardCompleted) && !(message instanceof RunCommand.ShardFailed));
    assertTrue(message instanceof RunCommand.ShardCompleted, "no failure reported: " + received);
    List<Long> startSteps = received.stream().filter(m -> m instanceof RunCommand.ShardStarted)
        .map(m -> ((RunCommand.ShardStarted) m).startStep()).toList();
    assertEquals(List.of(20L, 10L), startSteps, "tried the newest, then fell back to the one recorded");
    assertEquals(10, ((RunCommand.ShardCompleted) message).stepsTrained(), "steps 10..19 of 20, from step 10");
  }

  @Test
  void trainsAnAssignedShardReportsItsLifecycleAndAsksForMoreWork() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-train", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);

    worker.tell(assign(1, run(runProbe), "stub.step-time=0", "epochs=2", "batch-size=10", "checkpoint.every-steps=5",
        "hard-examples.k=8"));

    List<RunCommand> received = new ArrayList<>();
    RunCommand message;
    do {
      message = runProbe.receiveMessage(Duration.ofSeconds(20));
      received.add(message);
    } while (!(message instanceof RunCommand.ShardCompleted));
    assertTrue(received.get(0) instanceof RunCommand.ShardStarted, received.get(0).toString());
    RunCommand.ShardCompleted completed = (RunCommand.ShardCompleted) message;
    assertEquals(20, completed.endStep(), "100 samples / 10 per batch x 2 epochs");
    assertEquals(200, completed.samplesTrained());
    assertEquals(0, completed.counters().get(RunCounter.TELEMETRY_DROPPED));
    assertTrue(completed.counters().get(RunCounter.SAMPLES_REJECTED) > 0, "200 losses for 8 places: " + completed);
    assertEquals(0, completed.counters().get(RunCounter.NONFINITE_LOSSES));
    List<Long> checkpointSteps = received.stream().filter(m -> m instanceof RunCommand.ShardCheckpointed)
        .map(m -> ((RunCommand.ShardCheckpointed) m).step()).toList();
    assertEquals(List.of(5L, 10L, 15L, 20L), checkpointSteps,
        "every 5 steps, the epoch ends (10, 20) among them: one checkpoint each, not two");
    long stepEvents = received.stream().filter(m -> m instanceof RunCommand.TelemetryBatch)
        .mapToLong(m -> ((RunCommand.TelemetryBatch) m).events().size()).sum();
    assertEquals(20 + 2 + 2, stepEvents, "every step, epoch and eval event arrived before the completion");
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);

    HardExampleSnapshot snapshot = collect(worker, "r1", 0);
    assertEquals("w-train", snapshot.workerId());
    assertEquals(200, snapshot.samplesSeen());
    assertFalse(snapshot.entries().isEmpty());
  }

  /** The worker's snapshot for {@code merge}, every part of it (a probe grants no room: it must fit one window). */
  private static HardExampleSnapshot collect(ActorRef<WorkerCommand> worker, String runId, int merge) {
    TestProbe<HardExampleSnapshotPart> parts = testKit.createTestProbe();
    worker.tell(new WorkerCommand.CollectHardExamples(1, runId, merge, parts.getRef()));
    SnapshotAssembly assembly = new SnapshotAssembly(Integer.MAX_VALUE);
    while (!assembly.complete()) assertNotEquals(SnapshotAssembly.Outcome.FAILED, assembly.offer(parts.receiveMessage()));
    return assembly.snapshot();
  }

  /** Worker {@code workerId}'s share of merge {@code merge}, in one part. */
  private static WorkerCommand.MergedHardExamples share(ActorRef<RunCommand> run, int merge, String workerId,
      HardExample... own) {
    return new WorkerCommand.MergedHardExamples(1, "r1", merge, 1.0, workerId, 0, 1, own.length, List.of(own), run);
  }

  /** Receives until {@code last} arrives, or fails after 30 s; every message received, in order. */
  private static List<RunCommand> receiveUntil(TestProbe<RunCommand> runProbe, Class<? extends RunCommand> last) {
    List<RunCommand> received = new ArrayList<>();
    RunCommand message;
    do {
      message = runProbe.receiveMessage(Duration.ofSeconds(30));
      received.add(message);
    } while (!last.isInstance(message));
    return received;
  }

  private static List<RunCommand.ShardProgressed> progressReports(List<RunCommand> received) {
    return received.stream()
        .filter(m -> m instanceof RunCommand.ShardProgressed)
        .map(m -> (RunCommand.ShardProgressed) m)
        .toList();
  }

  @Test
  void reportsTheAttemptsProgressInFastModeWithoutAnyTelemetry() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-progress", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);

    // 100 steps paced at 10 ms: about a second, ten progress intervals of this test kit.
    worker.tell(assign(1, run(runProbe), "telemetry.enabled=false", "stub.step-time=10ms", "epochs=10",
        "batch-size=10", "hard-examples.k=4"));
    List<RunCommand> received = receiveUntil(runProbe, RunCommand.ShardCompleted.class);

    assertTrue(received.stream().noneMatch(m -> m instanceof RunCommand.TelemetryBatch), "fast mode sends none");
    List<RunCommand.ShardProgressed> reports = progressReports(received);
    assertTrue(reports.size() >= 2, "progress every 100 ms of a run of about 1 s: " + reports.size());
    RunCommand.ShardProgressed last = reports.get(reports.size() - 1);
    assertEquals(List.of("r1", 0, 1, "w-progress"),
        List.of(last.runId(), last.shard(), last.attempt(), last.workerId()));
    assertTrue(last.step() > 0 && last.step() <= 100, last.toString());
    // 10 samples a step; step and samples are read one after the other while the trainer goes on: one step apart.
    assertTrue(Math.abs(last.samples() - 10L * last.step()) <= 10, last.toString());
    assertTrue(Float.isFinite(last.loss()), "the step loss, seen in fast mode too: " + last);
    assertTrue(last.counters().get(RunCounter.SAMPLES_REJECTED) > 0, last.toString());
    for (int i = 1; i < reports.size(); i++) {
      assertTrue(reports.get(i).step() >= reports.get(i - 1).step(), "steps never go back: " + reports);
      assertTrue(!reports.get(i).equals(reports.get(i - 1)), "a report only when something changed: " + reports);
    }
    RunCommand.ShardCompleted completed = (RunCommand.ShardCompleted) received.get(received.size() - 1);
    assertTrue(completed.counters().get(RunCounter.SAMPLES_REJECTED)
        >= last.counters().get(RunCounter.SAMPLES_REJECTED), "running totals only grow");
    runProbe.expectNoMessage(Duration.ofMillis(300)); // no progress once the attempt has ended
  }

  @Test
  void anAdoptedAttemptReportsAndStreamsToTheRunThatAdoptedIt() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> oldRun = testKit.createTestProbe();
    TestProbe<RunCommand> newRun = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-adopt", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    worker.tell(assign(1, run(oldRun), "stub.step-time=20ms", "epochs=100", "batch-size=10",
        "checkpoint.every-steps=2", "telemetry.batch-interval=50ms"));
    oldRun.expectMessageClass(RunCommand.ShardStarted.class);
    receiveUntil(oldRun, RunCommand.ShardCheckpointed.class);

    worker.tell(new WorkerCommand.CoordinatorAnnounced(2, coordinator.getRef()));
    CoordinatorCommand.ShardInProgress inProgress =
        coordinator.expectMessageClass(CoordinatorCommand.ShardInProgress.class);
    assertEquals(List.of("r1", 0, 1), List.of(inProgress.runId(), inProgress.shard(), inProgress.attempt()));
    worker.tell(new WorkerCommand.AdoptShard(2, "r1", 0, 1, run(newRun)));

    receiveUntil(newRun, RunCommand.ShardCheckpointed.class); // the latest one is sent again at once
    receiveUntil(newRun, RunCommand.ShardProgressed.class);
    receiveUntil(newRun, RunCommand.TelemetryBatch.class);
    worker.tell(new WorkerCommand.StopShard(2, "r1", 0, "test over"));
    receiveUntil(newRun, RunCommand.ShardStopped.class);
  }

  @Test
  void sizesARunsDataOffItsActorThread() {
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-size", "cpu"));
    TestProbe<WorkerCommand.RunSized> sized = testKit.createTestProbe();

    worker.tell(new WorkerCommand.SizeRun(1, new RunSpec("r9", "stub.samples = 1234"), sized.getRef()));

    assertEquals(new WorkerCommand.RunSized("r9", 1234, "", "w-size"), sized.receiveMessage(Duration.ofSeconds(10)));
  }

  @Test
  void answersASizeRequestItCannotSizeWithTheConfigError() {
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-size-bad", "cpu"));
    TestProbe<WorkerCommand.RunSized> sized = testKit.createTestProbe();

    worker.tell(new WorkerCommand.SizeRun(1, new RunSpec("r9", "epochs = 0"), sized.getRef()));

    WorkerCommand.RunSized answer = sized.receiveMessage(Duration.ofSeconds(10));
    assertEquals(-1, answer.samples());
    assertTrue(answer.error().contains("epochs"), answer.error());
  }

  @Test
  void ignoresASizeRequestFromAnOlderCoordinatorIncarnation() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-size-fenced", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(5, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    TestProbe<WorkerCommand.RunSized> sized = testKit.createTestProbe();

    worker.tell(new WorkerCommand.SizeRun(4, new RunSpec("r9", "stub.samples = 10"), sized.getRef()));

    sized.expectNoMessage(Duration.ofMillis(300));
  }

  @Test
  void answersAMergeForARunItNeverTrainedWithAnEmptySnapshot() {
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-empty", "cpu"));
    HardExampleSnapshot snapshot = collect(worker, "other", 3);
    assertEquals(3, snapshot.merge());
    assertTrue(snapshot.entries().isEmpty());
  }

  @Test
  void aTrainerThatCannotStartFailsTheShardWithTheReason() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-bad", "cpu",
        io.quarry.worker.trainer.TrainerRegistry.load(), java.time.Clock.systemUTC()));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);

    RunSpec broken = new RunSpec("r1", "epochs = 0");
    worker.tell(new WorkerCommand.AssignShard(1, broken,
        new ShardAssignment(0, 1, 1, 0, 10, checkpoints.toString(), null, 0), run(runProbe)));
    RunCommand.ShardFailed failed = runProbe.expectMessageClass(RunCommand.ShardFailed.class);
    assertTrue(failed.reason().contains("epochs"), failed.reason());
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
  }

  /** Trains one shard of 100 samples on {@code worker} to its end; returns the run stand-in. */
  private ActorRef<RunCommand> trainOneShard(ActorRef<WorkerCommand> worker, TestProbe<RunCommand> runProbe) {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
    ActorRef<RunCommand> run = run(runProbe);
    worker.tell(assign(1, run, "stub.step-time=0", "epochs=1", "batch-size=10", "telemetry.enabled=false"));
    RunCommand message;
    do {
      message = runProbe.receiveMessage(Duration.ofSeconds(20));
    } while (!(message instanceof RunCommand.ShardCompleted));
    return run;
  }

  private static RunCommand.HardExamplePayloads nextPayloads(TestProbe<RunCommand> runProbe) {
    return runProbe.expectMessageClass(RunCommand.HardExamplePayloads.class, Duration.ofSeconds(10));
  }

  @Test
  void rendersPayloadsOnlyForItsOwnMergedEntriesAndEachSampleOnce() throws Exception {
    LabellingTestTrainer.Factory trainers = new LabellingTestTrainer.Factory("stub");
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-pay", "cpu",
        TrainerRegistry.load().with(trainers), java.time.Clock.systemUTC()));
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<RunCommand> run = trainOneShard(worker, runProbe);

    HardExample even = new HardExample(4, 9f, "w-pay", 3, 4, 0);
    HardExample odd = new HardExample(5, 8f, "w-pay", 3, 5, 0);
    worker.tell(share(run, 0, "w-pay", even, odd));

    RunCommand.HardExamplePayloads first = nextPayloads(runProbe);
    assertEquals(0, first.merge());
    assertEquals("w-pay", first.workerId());
    assertTrue(first.last());
    assertEquals(0, first.failed());
    assertEquals(2, first.payloads().size(), first.toString());
    HardExamplePayload.Png png = (HardExamplePayload.Png) first.payloads().get(0);
    assertEquals(4, png.sampleId());
    assertEquals(4, png.label(), "labels come from the merged entry");
    BufferedImage image = ImageIO.read(new ByteArrayInputStream(png.png()));
    assertEquals(64, image.getWidth(), "100 x 40 scaled to fit 64 x 64");
    assertEquals(26, image.getHeight());
    HardExamplePayload.Features features = (HardExamplePayload.Features) first.payloads().get(1);
    assertEquals(5, features.sampleId());
    assertEquals(Payload.MAX_FEATURES, features.values().length, "the leading features of 80");
    assertEquals(LabellingTestTrainer.feature(5, 63), features.values()[63]);

    HardExample next = new HardExample(8, 9.5f, "w-pay", 9, 8, 0);
    worker.tell(share(run, 1, "w-pay", next, even, odd));
    RunCommand.HardExamplePayloads second = nextPayloads(runProbe);
    assertEquals(1, second.merge());
    assertEquals(List.of(8L), second.payloads().stream().map(HardExamplePayload::sampleId).toList(),
        "samples rendered before are not rendered again");

    worker.tell(share(run, 2, "w-pay"));
    runProbe.expectNoMessage(Duration.ofMillis(300)); // no entry of its own: nothing to answer
    assertEquals(java.util.Set.of(4L, 5L, 8L), trainers.rendered());

    worker.tell(new WorkerCommand.ReleaseRun(1, "r1"));
    worker.tell(share(run, 3, "w-pay", new HardExample(10, 1f, "w-pay", 1)));
    RunCommand.HardExamplePayloads afterRelease = nextPayloads(runProbe);
    assertTrue(afterRelease.last() && afterRelease.payloads().isEmpty(), "released: the renderer is gone");
    assertEquals(java.util.Set.of(4L, 5L, 8L), trainers.rendered());
  }

  @Test
  void answersAMergeWithAnEmptyLastMessageWhenItsTrainerRendersNothing() {
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-stub", "cpu"));
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<RunCommand> run = trainOneShard(worker, runProbe);

    worker.tell(share(run, 0, "w-stub", new HardExample(3, 2f, "w-stub", 1)));

    RunCommand.HardExamplePayloads answer = nextPayloads(runProbe);
    assertTrue(answer.last());
    assertTrue(answer.payloads().isEmpty());
    assertEquals(0, answer.failed());
  }
}
