package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quarry.protocol.WorkerAllowance;
import io.quarry.protocol.WorkerCommand;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Which idle workers go to which runs ({@link WorkerRegistry#offerIdle}): a gang ({@code min-workers}) that has not
 * started is offered nothing until that many workers may serve it at once, and the runs behind it go first; a worker
 * started for one run ({@code quarry worker --run}) is offered to no other; max-concurrent-runs holds.
 */
class WorkerRegistryOffersTest {
  private static final ActorTestKit TEST_KIT = ActorTestKit.create();
  private static final WorkerAllowance ANY_RUN = WorkerAllowance.NOTHING;

  @AfterAll
  static void stop() {
    TEST_KIT.shutdownTestKit();
  }

  private static WorkerRegistry.Worker idle(WorkerRegistry registry, String id, String onlyRun) {
    ActorRef<WorkerCommand> ref = TEST_KIT.<WorkerCommand>createTestProbe().ref();
    WorkerRegistry.Worker worker = registry.discovered(ref);
    registry.idle(worker, id, "cpu", new WorkerAllowance(false, List.of(), List.of(), onlyRun));
    return worker;
  }

  private static List<String> offers(List<WorkerRegistry.Offer> offers) {
    return offers.stream().map(offer -> offer.worker().id() + "->" + offer.runId()).toList();
  }

  @Test
  void aGangWaitsHoldingNoWorkerWhileTheRunsBehindItGoFirst() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "w1", "");
    idle(registry, "w2", "");
    List<RunQueue.Candidate> queue = List.of(new RunQueue.Candidate("gang-of-3", false, 3),
        new RunQueue.Candidate("small", false, 0));
    assertEquals(List.of("w1->small", "w2->small"), offers(registry.offerIdle(queue, Integer.MAX_VALUE)));
  }

  @Test
  void aGangTakesAllItsWorkersAtOnceWhenThereAreEnough() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "w1", "");
    idle(registry, "w2", "");
    idle(registry, "w3", "");
    List<RunQueue.Candidate> queue = List.of(new RunQueue.Candidate("gang-of-3", false, 3));
    assertEquals(List.of("w1->gang-of-3", "w2->gang-of-3", "w3->gang-of-3"),
        offers(registry.offerIdle(queue, Integer.MAX_VALUE)));
    assertEquals(List.of(), registry.offerIdle(queue, Integer.MAX_VALUE), "offers out: nothing offered twice");
  }

  @Test
  void aStartedGangTakesWorkersOneByOneLikeAnyRun() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "w1", "");
    assertEquals(List.of("w1->gang-of-3"),
        offers(registry.offerIdle(List.of(new RunQueue.Candidate("gang-of-3", true, 3)), Integer.MAX_VALUE)));
  }

  @Test
  void workersAProcessGroupHeldWithoutAShardAreOfferedAgainWhenItsRunEnds() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "w1", "");
    idle(registry, "w2", "");
    List<RunQueue.Candidate> group = List.of(new RunQueue.Candidate("group", true, 2));
    for (WorkerRegistry.Offer offer : registry.offerIdle(group, Integer.MAX_VALUE)) {
      registry.answered("group", offer.worker().id(), offer.worker().id().equals("w1"), offer.offerId());
    }
    List<RunQueue.Candidate> next = List.of(new RunQueue.Candidate("next", false, 0));
    assertEquals(List.of("w2->next"), offers(registry.offerIdle(next, Integer.MAX_VALUE)), "w1 is held by the group");

    assertEquals(true, registry.unused("group", List.of("w1")));

    assertEquals(List.of("w1->next"), offers(registry.offerIdle(next, Integer.MAX_VALUE)));
    assertEquals(false, registry.unused("group", List.of("w1", "w2")), "neither is lent to the group any more");
  }

  @Test
  void aWorkerForOneRunIsOfferedToThatRunOnly() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "job-a-0", "job-a");
    idle(registry, "any", "");
    List<RunQueue.Candidate> queue = List.of(new RunQueue.Candidate("other", false, 0),
        new RunQueue.Candidate("job-a", false, 0));
    assertEquals(List.of("any->other", "job-a-0->job-a"), offers(registry.offerIdle(queue, Integer.MAX_VALUE)));
  }

  @Test
  void aJobsGangCountsOnlyTheWorkersThatMayServeIt() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "job-a-0", "job-a");
    idle(registry, "job-b-0", "job-b");
    List<RunQueue.Candidate> queue = List.of(new RunQueue.Candidate("job-a", false, 2));
    assertEquals(List.of(), registry.offerIdle(queue, Integer.MAX_VALUE), "job-b's worker does not count for job-a");
    idle(registry, "job-a-1", "job-a");
    assertEquals(List.of("job-a-0->job-a", "job-a-1->job-a"), offers(registry.offerIdle(queue, Integer.MAX_VALUE)));
  }

  @Test
  void runsThatHaveNotStartedTakeNoMoreThanTheRoomLeft() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "job-a-0", "job-a");
    idle(registry, "job-b-0", "job-b");
    List<RunQueue.Candidate> queue = List.of(new RunQueue.Candidate("job-a", false, 0),
        new RunQueue.Candidate("job-b", false, 0));
    assertEquals(List.of("job-a-0->job-a"), offers(registry.offerIdle(queue, 1)));
    assertEquals(List.of(), registry.offerIdle(queue, 1), "job-a holds the room while its offer is out");
    assertEquals(0, new WorkerRegistry().offerIdle(queue, 0).size());
  }

  @Test
  void aCandidateWithNoIdleWorkerServingItIsPassedOver() {
    WorkerRegistry registry = new WorkerRegistry();
    idle(registry, "any", ANY_RUN.onlyRun());
    assertEquals(List.of("any->b"), offers(registry.offerIdle(List.of(new RunQueue.Candidate("b", false, 0)), 1)));
  }
}
