package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.ScriptedWorker.Script;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.WorkerCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How a submitted run is admitted: sized by a worker when the coordinator has one, else (or when the worker does
 * not answer within {@code quarry.coordinator.sizing-timeout}) by the coordinator itself, off its own thread.
 */
class RunAdmissionTest {
  private static final Duration LONG = Duration.ofSeconds(30);
  /** Two shards of 100 samples at batch 10, one epoch: 10 steps when sized as the config says. */
  private static final String RUN = "shards = 2\nstub.samples = 100\nepochs = 1\nbatch-size = 10";

  @TempDir Path runsDir;
  private ActorTestKit testKit;
  private RunStore store;
  private ActorRef<CoordinatorCommand> coordinator;

  @BeforeEach
  void startCoordinator() {
    startCoordinator("30s");
  }

  /** A coordinator whose admission waits {@code sizingTimeout} for a worker's size. */
  private void startCoordinator(String sizingTimeout) {
    startCoordinator(sizingTimeout, 1000);
  }

  /** ... and that lets at most {@code maxQueued} runs wait. */
  private void startCoordinator(String sizingTimeout, int maxQueued) {
    if (testKit != null) shutDown();
    testKit = ActorTestKit.create(ConfigFactory.parseString("quarry.coordinator.sizing-timeout = " + sizingTimeout
            + "\nquarry.coordinator.max-queued-runs = " + maxQueued)
        .withFallback(ConfigFactory.parseResources("coordinator-test.conf")).withFallback(ConfigFactory.load()));
    store = RunStores.open("sqlite:" + runsDir.resolve("quarry.db"));
    coordinator = testKit.spawn(Coordinator.create(store, runsDir, Clock.systemUTC()), "coordinator",
        Coordinator.DISPATCHER);
  }

  @AfterEach
  void shutDown() {
    testKit.shutdownTestKit();
    store.close();
  }

  private SubmitReply submit(String runId, String hocon) {
    TestProbe<SubmitReply> reply = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.SubmitRun(new RunSpec(runId, hocon), reply.getRef()));
    return reply.receiveMessage(LONG);
  }

  private RunStatus status(String runId) {
    TestProbe<CoordinatorCommand.RunStatusReply> reply = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.GetRun(runId, reply.getRef()));
    return reply.receiveMessage(LONG).status();
  }

  /** A bare worker the test answers for: registered, introduced to the coordinator as {@code id}. */
  private TestProbe<WorkerCommand> bareWorker(String id) {
    TestProbe<WorkerCommand> worker = testKit.createTestProbe(id);
    testKit.system().receptionist().tell(Receptionist.register(ServiceKeys.WORKER, worker.getRef()));
    WorkerCommand.CoordinatorAnnounced announced = worker.expectMessageClass(
        WorkerCommand.CoordinatorAnnounced.class, LONG);
    coordinator.tell(new CoordinatorCommand.RequestWork(announced.incarnation(), id, "cpu", worker.getRef()));
    awaitIntroduced(id);
    return worker;
  }

  /** Until the coordinator knows worker {@code id} by its id (it has asked for work). */
  private void awaitIntroduced(String id) {
    TestProbe<CoordinatorCommand.WorkersReply> workers = testKit.createTestProbe();
    do {
      coordinator.tell(new CoordinatorCommand.GetWorkers(workers.getRef()));
    } while (workers.receiveMessage(LONG).workers().stream().noneMatch(w -> id.equals(w.workerId())));
  }

  @Test
  void aRegisteredWorkerSizesTheRun() {
    TestProbe<WorkerCommand> monitor = testKit.createTestProbe();
    testKit.spawn(ScriptedWorker.create("sizer", Script.MANUAL.sizing(40), monitor.getRef()), "sizer");
    awaitIntroduced("sizer");

    assertInstanceOf(SubmitReply.Accepted.class, submit("sized", RUN));

    assertEquals("sized", monitor.fishForMessage(LONG, m -> m instanceof WorkerCommand.SizeRun
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0) instanceof WorkerCommand.SizeRun size
        ? size.spec().runId() : null);
    assertEquals(4, status("sized").totalSteps(), "the worker's 40 samples: 2 shards of 2 steps");
  }

  @Test
  void withNoWorkerTheCoordinatorSizesTheRunItself() {
    assertInstanceOf(SubmitReply.Accepted.class, submit("alone", RUN));
    assertEquals(10, status("alone").totalSteps());
    assertEquals(2, status("alone").shards().size());
  }

  @Test
  void aWorkerThatNeverAnswersIsWaitedForOnlyUntilTheSizingTimeout() {
    startCoordinator("500ms");
    TestProbe<WorkerCommand> silent = bareWorker("silent");

    SubmitReply reply = submit("unanswered", RUN);

    assertInstanceOf(WorkerCommand.SizeRun.class, silent.fishForMessage(LONG, m -> m instanceof WorkerCommand.SizeRun
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0));
    assertInstanceOf(SubmitReply.Accepted.class, reply);
    assertEquals(10, status("unanswered").totalSteps(), "sized by the coordinator");
  }

  @Test
  void aSizingErrorRejectsTheRunWithItsMessageAndLeavesNoTrace() {
    TestProbe<WorkerCommand> worker = bareWorker("reader");
    TestProbe<SubmitReply> reply = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.SubmitRun(new RunSpec("unreadable", RUN), reply.getRef()));

    WorkerCommand.SizeRun size = worker.expectMessageClass(WorkerCommand.SizeRun.class, LONG);
    size.replyTo().tell(new WorkerCommand.RunSized("unreadable", -1,
        "config key 'dataset.path': no file data/missing.csv", "reader"));

    SubmitReply.Rejected rejected = assertInstanceOf(SubmitReply.Rejected.class, reply.receiveMessage(LONG));
    assertEquals("config key 'dataset.path': no file data/missing.csv", rejected.error());
    assertEquals(null, status("unreadable"));
    assertEquals(false, Files.exists(runsDir.resolve("unreadable")));
    assertEquals(true, store.run("unreadable").isEmpty());
  }

  @Test
  void moreShardsThanSamplesIsRejectedOnceSized() {
    SubmitReply reply = submit("tiny", "shards = 200\nstub.samples = 100");
    assertEquals("config key 'shards': 200 shards for a dataset of 100 samples; allowed: at most one shard per sample",
        assertInstanceOf(SubmitReply.Rejected.class, reply).error());
  }

  @Test
  void theCoordinatorAnswersWhileARunIsBeingSizedAndTheIdStaysTaken() {
    TestProbe<WorkerCommand> slow = bareWorker("slow");
    TestProbe<SubmitReply> first = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.SubmitRun(new RunSpec("pending", RUN), first.getRef()));
    WorkerCommand.SizeRun size = slow.expectMessageClass(WorkerCommand.SizeRun.class, LONG);

    TestProbe<CoordinatorCommand.RunsReply> runs = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.ListRuns(runs.getRef()));
    assertEquals(0, runs.receiveMessage(LONG).runs().size(), "answered while the run is sized (30 s to go)");
    assertEquals("a run with id 'pending' exists already",
        assertInstanceOf(SubmitReply.Rejected.class, submit("pending", RUN)).error());

    size.replyTo().tell(new WorkerCommand.RunSized("pending", 100, "", "slow"));
    assertInstanceOf(SubmitReply.Accepted.class, first.receiveMessage(LONG));
  }

  @Test
  void aSubmissionPastTheQueuesCapIsRefusedAsFullAndChangesNothing() throws Exception {
    startCoordinator("30s", 2); // no worker: the runs wait in the queue
    assertInstanceOf(SubmitReply.Accepted.class, submit("q1", RUN));
    assertInstanceOf(SubmitReply.Accepted.class, submit("q2", RUN));
    SubmitReply third = submit("q3", RUN);
    SubmitReply.Rejected rejected = assertInstanceOf(SubmitReply.Rejected.class, third);
    assertEquals(SubmitReply.Why.FULL, rejected.why());
    org.junit.jupiter.api.Assertions.assertTrue(rejected.error().contains("max-queued-runs = 2"), rejected.error());
    assertEquals(null, status("q3"));
    org.junit.jupiter.api.Assertions.assertFalse(Files.exists(runsDir.resolve("q3")));
  }

  @Test
  void aRunWhoseProgramNoWorkerAllowsIsRefusedNamingTheProgramAndHowToAllowIt() {
    bareWorker("w-allows-nothing");
    SubmitReply reply = submit("shadow", "trainer = process\nprocess.command = [\"/bin/sh\", \"-c\", \"id\"]");
    SubmitReply.Rejected rejected = assertInstanceOf(SubmitReply.Rejected.class, reply);
    org.junit.jupiter.api.Assertions.assertTrue(rejected.error().contains("program '/bin/sh'")
        && rejected.error().contains("--allow-program"), rejected.error());
    org.junit.jupiter.api.Assertions.assertFalse(Files.exists(runsDir.resolve("shadow")));
  }

  @Test
  void aWorkerThatHasNotYetSaidWhatItAllowsLeavesTheDecisionToTheWorkers() {
    startCoordinator("500ms"); // the bare worker does not size runs
    bareWorker("w-allows-nothing");
    // A second worker joined the cluster but has not asked for work yet: it may allow the program.
    TestProbe<WorkerCommand> joining = testKit.createTestProbe("w-joining");
    testKit.system().receptionist().tell(Receptionist.register(ServiceKeys.WORKER, joining.getRef()));
    joining.expectMessageClass(WorkerCommand.CoordinatorAnnounced.class, LONG);
    SubmitReply reply = submit("waits", "trainer = process\nprocess.command = [\"/bin/sh\", \"-c\", \"id\"]");
    assertInstanceOf(SubmitReply.Accepted.class, reply, reply.toString());
  }
}
