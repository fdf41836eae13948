package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand.AssignShard;
import java.net.ServerSocket;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class RankZeroTest {
  private static final ActorTestKit KIT = ActorTestKit.create();

  @AfterAll
  static void shutDown() {
    KIT.shutdownTestKit();
  }

  private static AssignShard assign(TestProbe<RunCommand> run, DistributedRank rank) {
    return new AssignShard(3L, new RunSpec("r", ""),
        new ShardAssignment(rank == null ? 0 : rank.rank(), 2, 1, 0, 10, "/tmp/c", null, 0, rank), run.getRef());
  }

  @Test
  void rankZerosWorkerPicksAFreePortAndTellsTheRunFirst() throws Exception {
    TestProbe<RunCommand> run = KIT.createTestProbe();

    AssignShard filled = RankZero.hostRendezvous(assign(run, new DistributedRank(0, 2, 0, 2, 0, 1, "", 0, 0, 2)),
        "w0", "10.0.0.9");

    RunCommand.RankEndpoint endpoint = run.expectMessageClass(RunCommand.RankEndpoint.class);
    assertEquals(new RunCommand.RankEndpoint("r", 0, 1, "w0", "10.0.0.9", endpoint.port()), endpoint);
    assertEquals("10.0.0.9", filled.assignment().rank().masterAddr());
    assertEquals(endpoint.port(), filled.assignment().rank().masterPort());
    assertTrue(endpoint.port() > 0);
    try (ServerSocket socket = new ServerSocket(endpoint.port())) {
      assertEquals(endpoint.port(), socket.getLocalPort(), "nothing holds the port: rank 0's program can bind it");
    }
  }

  @Test
  void otherRanksAndShardsOnTheirOwnAreLeftAsTheyCame() {
    TestProbe<RunCommand> run = KIT.createTestProbe();
    AssignShard rank1 = assign(run, new DistributedRank(1, 2, 1, 2, 0, 1, "10.0.0.9", 4242, 0, 2));
    AssignShard alone = assign(run, null);

    assertSame(rank1, RankZero.hostRendezvous(rank1, "w1", "h"));
    assertSame(alone, RankZero.hostRendezvous(alone, "w1", "h"));
    run.expectNoMessage(java.time.Duration.ofMillis(100));
  }
}
