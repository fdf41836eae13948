package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class RingRosterTest {
  private static RingRoster.Member<String> member(int shard, int attempt) {
    return new RingRoster.Member<>(shard, attempt, "w" + shard + "." + attempt, "10.0.0." + shard, 4000 + shard);
  }

  private static List<Integer> shards(RingRoster.Ring<String> ring) {
    return ring.members().stream().map(RingRoster.Member::shard).toList();
  }

  @Test
  void theFirstRingWaitsForEveryUnfinishedShard() {
    RingRoster<String> roster = new RingRoster<>(3);
    assertTrue(roster.join(member(1, 1), 2).isEmpty());
    RingRoster.Ring<String> ring = roster.join(member(0, 1), 2).orElseThrow();
    assertEquals(List.of(0, 1), shards(ring), "shard order is ring order");
    assertEquals((3L << 24) + 1, ring.epoch());
  }

  @Test
  void formsWithTheJoinedAtTheFormationTimeout() {
    RingRoster<String> roster = new RingRoster<>(1);
    assertTrue(roster.formationTimedOut().isEmpty(), "no member, no ring");
    roster.join(member(0, 1), 3);
    assertEquals(List.of(0), shards(roster.formationTimedOut().orElseThrow()));
    assertTrue(roster.formationTimedOut().isEmpty(), "once");
  }

  @Test
  void reformsAtOnceWithoutALostMemberAndWithALateJoiner() {
    RingRoster<String> roster = new RingRoster<>(1);
    roster.join(member(0, 1), 3);
    roster.join(member(1, 1), 3);
    RingRoster.Ring<String> first = roster.join(member(2, 1), 3).orElseThrow();
    RingRoster.Ring<String> without = roster.leave(1, 3).orElseThrow();
    assertEquals(List.of(0, 2), shards(without));
    assertTrue(without.epoch() > first.epoch());
    RingRoster.Ring<String> back = roster.join(member(1, 2), 3).orElseThrow();
    assertEquals(List.of(0, 1, 2), shards(back));
    assertEquals(2, back.members().get(1).attempt());
    assertTrue(roster.leave(7, 3).isEmpty(), "not a member");
  }

  @Test
  void reformsAnAbortedRingOnceAndIgnoresOlderEpochs() {
    RingRoster<String> roster = new RingRoster<>(1);
    roster.join(member(0, 1), 2);
    long epoch = roster.join(member(1, 1), 2).orElseThrow().epoch();
    assertTrue(roster.aborted(0, 1, epoch));
    assertFalse(roster.aborted(0, 1, epoch - 1), "an older ring");
    assertFalse(roster.aborted(0, 9, epoch), "an attempt the run gave up on");
    RingRoster.Ring<String> again = roster.reform(epoch).orElseThrow();
    assertEquals(List.of(0, 1), shards(again));
    assertTrue(roster.reform(epoch).isEmpty(), "the second report of the same ring changes nothing");
    assertFalse(roster.aborted(1, 1, epoch));
  }

  @Test
  void aReformIsMootOnceTheMembershipChanged() {
    RingRoster<String> roster = new RingRoster<>(1);
    roster.join(member(0, 1), 2);
    long epoch = roster.join(member(1, 1), 2).orElseThrow().epoch();
    assertTrue(roster.aborted(0, 1, epoch));
    assertEquals(List.of(0), shards(roster.leave(1, 2).orElseThrow()));
    assertTrue(roster.reform(epoch).isEmpty());
  }
}
