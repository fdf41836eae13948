package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import io.quarry.protocol.config.RunConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The worker actor against probes standing in for the coordinator and the run: the protocol, message by message. */
class WorkerTest {
  private static final ActorTestKit testKit = ActorTestKit.create(
      ConfigFactory.parseString("pekko.actor.serialize-messages = on").withFallback(ConfigFactory.load()));

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
    ShardAssignment assignment = new ShardAssignment(0, 1, 1, 0, 100, checkpoints.toString(), null);
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
  void trainsAnAssignedShardReportsItsLifecycleAndAsksForMoreWork() {
    TestProbe<CoordinatorCommand> coordinator = testKit.createTestProbe();
    TestProbe<RunCommand> runProbe = testKit.createTestProbe();
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-train", "cpu"));
    worker.tell(new WorkerCommand.CoordinatorAnnounced(1, coordinator.getRef()));
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);

    worker.tell(assign(1, run(runProbe), "stub.step-time=0", "epochs=2", "batch-size=10", "checkpoint.every-steps=5"));

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
    assertEquals(0, completed.droppedEvents());
    long checkpointsReported = received.stream().filter(m -> m instanceof RunCommand.ShardCheckpointed).count();
    assertTrue(checkpointsReported >= 4, "checkpoints every 5 steps: " + checkpointsReported);
    long stepEvents = received.stream().filter(m -> m instanceof RunCommand.TelemetryBatch)
        .mapToLong(m -> ((RunCommand.TelemetryBatch) m).events().size()).sum();
    assertEquals(20 + 2 + 2, stepEvents, "every step, epoch and eval event arrived before the completion");
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);

    TestProbe<HardExampleSnapshot> merge = testKit.createTestProbe();
    worker.tell(new WorkerCommand.CollectHardExamples(1, "r1", 0, merge.getRef()));
    HardExampleSnapshot snapshot = merge.receiveMessage();
    assertEquals("w-train", snapshot.workerId());
    assertEquals(200, snapshot.samplesSeen());
    assertEquals(20, snapshot.stepsTrained());
    assertFalse(snapshot.entries().isEmpty());
  }

  @Test
  void answersAMergeForARunItNeverTrainedWithAnEmptySnapshot() {
    ActorRef<WorkerCommand> worker = testKit.spawn(Worker.create("w-empty", "cpu"));
    TestProbe<HardExampleSnapshot> merge = testKit.createTestProbe();
    worker.tell(new WorkerCommand.CollectHardExamples(1, "other", 3, merge.getRef()));
    HardExampleSnapshot snapshot = merge.receiveMessage();
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
        new ShardAssignment(0, 1, 1, 0, 10, checkpoints.toString(), null), run(runProbe)));
    RunCommand.ShardFailed failed = runProbe.expectMessageClass(RunCommand.ShardFailed.class);
    assertTrue(failed.reason().contains("epochs"), failed.reason());
    coordinator.expectMessageClass(CoordinatorCommand.RequestWork.class);
  }
}
