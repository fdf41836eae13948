package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.DistributedRank;
import java.util.List;
import org.junit.jupiter.api.Test;

class RankGroupTest {
  @Test
  void holdsOneWorkerPerRankAndDeclinesTheRest() {
    RankGroup<String> group = new RankGroup<>(2, 3);

    assertTrue(group.offer("w0", "a", "ref0"));
    assertFalse(group.offer("w0", "a", "ref0"), "the same worker twice");
    assertEquals(1, group.missing());
    assertFalse(group.full());
    assertTrue(group.offer("w1", "a", "ref1"));
    assertTrue(group.full());
    assertFalse(group.offer("w2", "a", "ref2"), "a full group takes no more");
  }

  @Test
  void numbersRanksOfOneHostConsecutivelyAsTorchrunDoes() {
    RankGroup<String> group = new RankGroup<>(4, 1);
    group.offer("a0", "host-a", "");
    group.offer("b0", "host-b", "");
    group.offer("a1", "host-a", "");
    group.offer("b1", "host-b", "");

    List<RankGroup.Member<String>> members = group.start();

    assertEquals(List.of("a0", "a1", "b0", "b1"), members.stream().map(RankGroup.Member::workerId).toList());
    DistributedRank rank2 = group.rank(2);
    assertEquals(2, rank2.rank());
    assertEquals(4, rank2.worldSize());
    assertEquals(0, rank2.localRank());
    assertEquals(2, rank2.localWorldSize());
    assertEquals(1, rank2.groupRank());
    assertEquals(2, rank2.groupWorldSize());
    assertEquals(1, group.rank(1).localRank());
    assertEquals(0, group.rank(1).groupRank());
    assertEquals(0, rank2.restartCount());
    assertEquals(0, rank2.maxRestarts(), "max-attempts 1: no restart");
  }

  @Test
  void rankZeroGoesOutWithoutAPortAndTheOthersWithRankZerosEndpoint() {
    RankGroup<String> group = new RankGroup<>(2, 3);
    group.offer("w0", "", "");
    group.offer("w1", "", "");
    group.start();

    assertEquals(RankGroup.Phase.STARTING, group.phase());
    assertEquals(0, group.rank(0).masterPort(), "rank 0's worker picks the port");
    assertTrue(group.endpoint("10.0.0.5", 41_000));
    assertFalse(group.endpoint("10.0.0.5", 42_000), "only once per start");
    assertEquals(RankGroup.Phase.RUNNING, group.phase());
    DistributedRank rank1 = group.rank(1);
    assertEquals("10.0.0.5", rank1.masterAddr());
    assertEquals(41_000, rank1.masterPort());
    assertEquals(2, rank1.maxRestarts());
  }

  @Test
  void theFirstLossOfAStartRestartsTheGroupAndLaterLossesAreThatSameRestart() {
    RankGroup<String> group = started(new RankGroup<>(2, 3));

    assertTrue(group.rankLost("rank 1 failed: exit 137"));
    assertFalse(group.rankLost("rank 0 failed: gloo connection closed"), "the same restart");
    assertEquals(RankGroup.Phase.RESTARTING, group.phase());
    assertFalse(group.exhausted());

    assertEquals("rank 1 failed: exit 137", group.restart());
    assertEquals(RankGroup.Phase.GATHERING, group.phase());
    assertEquals(1, group.restartCount(), "TORCHELASTIC_RESTART_COUNT of the next start");
    assertEquals(2, group.missing(), "it gathers its workers anew");
    started(group);
    assertEquals(1, group.rank(0).restartCount());
  }

  @Test
  void isExhaustedOnceItHasStartedMaxAttemptsTimes() {
    RankGroup<String> group = started(new RankGroup<>(2, 2));
    group.rankLost("first");
    group.restart();
    started(group);

    assertTrue(group.exhausted());
  }

  @Test
  void saysWhatItWaitsFor() {
    RankGroup<String> group = new RankGroup<>(2, 3);
    group.offer("w0", "", "");

    assertTrue(group.waitingFor().startsWith("waiting for 1 more of the 2 workers"), group.waitingFor());
    group.offer("w1", "", "");
    group.start();
    group.rankLost("rank 1 failed: exit 137");
    group.restart();
    assertTrue(group.waitingFor().contains("restart 1 of at most 2: rank 1 failed: exit 137"), group.waitingFor());
  }

  @Test
  void aGroupFoundRunningAfterAFailoverRestartsWhenItLosesARank() {
    RankGroup<String> group = new RankGroup<>(2, 3);

    group.adopted();

    assertEquals(RankGroup.Phase.RUNNING, group.phase());
    assertFalse(group.offer("w9", "", ""), "no worker is held while its ranks run");
    assertTrue(group.rankLost("rank 1 was not reclaimed"));
    assertEquals("rank 1 was not reclaimed", group.restart());
    assertEquals(2, group.missing());
  }

  @Test
  void namesTheWorkersItHoldsOnlyWhileGathering() {
    RankGroup<String> group = new RankGroup<>(2, 1);
    group.offer("w0", "", "");

    assertEquals(List.of("w0"), group.held(), "a run that ends now must give w0 back");
    group.offer("w1", "", "");
    group.start();
    assertEquals(List.of(), group.held(), "started: the workers have their shards");
  }

  @Test
  void theOtherRanksAreUnsentUntilRankZerosEndpointComes() {
    RankGroup<String> group = new RankGroup<>(3, 2);
    group.offer("w0", "", "");
    group.offer("w1", "", "");
    group.offer("w2", "", "");
    group.start();

    assertEquals(List.of("w1", "w2"), group.unsent().stream().map(RankGroup.Member::workerId).toList());
    group.rankLost("rank 0's worker could not pick a port");
    assertEquals(2, group.unsent().size(), "still never told, while the start is lost");
    group.restart();
    assertEquals(List.of(), group.unsent(), "gathering: nobody holds a shard");
    started3(group);
    assertEquals(List.of(), group.unsent(), "once the endpoint came, every rank went out");
  }

  private static void started3(RankGroup<String> group) {
    group.offer("w0", "", "");
    group.offer("w1", "", "");
    group.offer("w2", "", "");
    group.start();
    group.endpoint("127.0.0.1", 29_500);
  }

  @Test
  void aHeldWorkerThatIsLostFreesItsPlace() {
    RankGroup<String> group = new RankGroup<>(2, 1);
    group.offer("w0", "", "");

    group.workerLost("w0");

    assertEquals(2, group.missing());
    assertTrue(group.offer("w0", "", ""), "back again");
  }

  @Test
  void refusesToStartUnlessFullAndToRestartUnlessRestarting() {
    RankGroup<String> group = new RankGroup<>(2, 1);
    group.offer("w0", "", "");

    assertThrows(IllegalStateException.class, group::start);
    assertThrows(IllegalStateException.class, group::restart);
    assertFalse(group.rankLost("not started"), "a group that has not started loses nothing");
  }

  @Test
  void anElasticRestartMayStartWithAtLeastMinRanksAndGrowsBackAtTheNext() {
    RankGroup<String> group = new RankGroup<>(2, 1, 3);
    group.offer("w0", "a", "");
    assertFalse(group.mayStartSmaller(), "the first start is whole: the run is a gang");
    group.offer("w1", "b", "");
    assertEquals(2, group.start().size());
    group.rankLost("worker w1 was lost");
    group.restart();

    assertTrue(group.offer("w0", "a", ""));
    assertTrue(group.mayStartSmaller());
    assertTrue(group.waitingFor().contains("process.min-ranks = 1"), group.waitingFor());
    assertEquals(List.of("w0"), group.start().stream().map(RankGroup.Member::workerId).toList());
    assertEquals(1, group.worldSize());
    DistributedRank alone = group.rank(0);
    assertEquals(1, alone.worldSize());
    assertEquals(1, alone.localWorldSize());
    assertEquals(1, alone.groupWorldSize());
    assertEquals(1, alone.restartCount());

    group.endpoint("127.0.0.1", 29_500);
    group.rankLost("rank 0 failed");
    group.restart();
    group.offer("w0", "a", "");
    group.offer("w2", "c", "");
    assertTrue(group.full());
    assertFalse(group.mayStartSmaller(), "a full group starts whole");
    assertEquals(2, group.start().size());
    assertEquals(2, group.rank(1).worldSize(), "grown back at the next restart");
  }

  @Test
  void aGroupWithoutMinRanksBelowItsRanksNeverStartsSmaller() {
    RankGroup<String> group = started(new RankGroup<>(2, 3));
    group.rankLost("worker w1 was lost");
    group.restart();
    group.offer("w0", "", "");

    assertFalse(group.mayStartSmaller());
    assertThrows(IllegalStateException.class, group::start);
    assertThrows(IllegalArgumentException.class, () -> new RankGroup<>(2, 3, 1), "min-ranks above the ranks");
    assertThrows(IllegalArgumentException.class, () -> new RankGroup<>(2, 0, 1));
  }

  private static RankGroup<String> started(RankGroup<String> group) {
    group.offer("w0", "", "");
    group.offer("w1", "", "");
    group.start();
    group.endpoint("127.0.0.1", 29_500);
    return group;
  }
}
