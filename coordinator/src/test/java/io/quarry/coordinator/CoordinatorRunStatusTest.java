package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.CoordinatorCommand.RunStatusReply;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.ShardState;
import java.nio.file.Path;
import java.time.Clock;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the coordinator answers about a run's status. */
class CoordinatorRunStatusTest {
  @TempDir Path runsDir;
  private final ActorTestKit testKit = ActorTestKit.create(
      ConfigFactory.parseResources("coordinator-test.conf").withFallback(ConfigFactory.load()));

  private io.quarry.coordinator.store.RunStore store;

  @AfterEach
  void shutDown() {
    testKit.shutdownTestKit();
    if (store != null) store.close();
  }

  @org.junit.jupiter.api.BeforeEach
  void openStore() {
    store = io.quarry.coordinator.store.RunStores.open("sqlite:" + runsDir.resolve("quarry.db"));
  }

  @Test
  void aRunIsFoundAsSoonAsItIsAccepted() {
    // No workers: the run stays PENDING. The status is asked for as soon as the run is accepted (admission sizes it
    // first, off the coordinator's thread), before the run actor can have reported anything.
    ActorRef<CoordinatorCommand> coordinator =
        testKit.spawn(Coordinator.create(store, runsDir, Clock.systemUTC()), "coordinator", Coordinator.DISPATCHER);
    TestProbe<SubmitReply> submitted = testKit.createTestProbe();
    TestProbe<RunStatusReply> status = testKit.createTestProbe();
    coordinator.tell(new CoordinatorCommand.SubmitRun(new RunSpec("early", "shards = 2\nstub.samples = 100"),
        submitted.getRef()));
    assertInstanceOf(SubmitReply.Accepted.class, submitted.receiveMessage());
    coordinator.tell(new CoordinatorCommand.GetRun("early", status.getRef()));

    RunStatus run = status.receiveMessage().status();
    assertNotNull(run, "the accepted run is known at once");
    assertEquals(RunState.PENDING, run.state());
    assertEquals(2, run.shards().size());
    assertEquals(ShardState.PENDING, run.shards().get(0).state());
    assertEquals(2 * ((50 + 31) / 32) * 3, run.totalSteps(), "2 shards of 50 samples, batch 32, 3 epochs");
    assertEquals(runsDir.resolve("early").toString(), run.runDir());
  }
}
