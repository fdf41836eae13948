package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * A member of an all-reduce ring cut off mid-run by a network partition (a {@link NetNamespace}: the coordinator,
 * worker A and a spare worker on this side, worker B inside; the namespace's end of the link goes down and stays
 * down). A cut link resets nothing, so unlike a SIGKILL ({@link RingFailoverTest}) the other member learns of it only
 * from silence: its round aborts at the round's deadline ({@code sync.timeout}), not later and never a hang; the ring
 * re-forms under a new epoch without B; B's shard starts again on the spare worker, joins a newer ring, and the run
 * completes.
 */
@Timeout(300)
class RingPartitionTest {
  private static final String RUN_ID = "ring-partitioned";

  @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir;
  private ClusterScenario cluster;

  @AfterEach
  void killEverything() {
    if (cluster != null) cluster.close();
  }

  @Test
  void aMemberCutOffMidRoundAbortsTheOthersRoundAtItsDeadlineTheRingReformsWithoutItAndTheRunCompletes()
      throws Exception {
    cluster = new ClusterScenario(dir);
    NetNamespace ns = cluster.namespace();
    int artery = NodeProcesses.freePort();
    String seed = ns.hostAddress() + ":" + artery;
    ApiClient api = cluster.client(cluster.startCoordinator("coordinator", null, ns.hostAddress(), artery,
        NodeProcesses.freePort(), null));
    cluster.startWorker("worker-a", null, ns.hostAddress(), seed, "cpu");
    cluster.startWorker("worker-b", ns, ns.nsAddress(), seed, "cpu");
    cluster.awaitWorkers(api, 2);
    // 2 shards of 600 steps, 30 ms each, gradients summed on the ring every step (so a round is always under way).
    api.submit("trainer = linear-sgd\nstub.samples = 12000\nstub.step-time = 30ms\nbatch-size = 10\nepochs = 1\n"
        + "shards = 2\nsync.mode = allreduce\nsync.timeout = 3s\n", List.of(), RUN_ID);
    JsonNode running = awaitShardsPast(api, 40);
    cluster.startWorker("worker-spare", null, ns.hostAddress(), seed, "cpu");
    cluster.awaitWorkers(api, 3);
    String nodeOfB = cluster.workerNodeId("worker-b");
    int shardOfB = -1;
    for (JsonNode shard : running.path("shards")) {
      if (shard.path("worker_id").asText().startsWith(nodeOfB + "/")) shardOfB = shard.path("shard").asInt();
    }
    assertTrue(shardOfB >= 0, "no shard runs on worker B (" + nodeOfB + "): " + running);
    int shardOfA = 1 - shardOfB;

    long partitionedMs = System.currentTimeMillis();
    ns.partition();

    JsonNode done = ClusterScenario.awaitEnd(api, RUN_ID, Duration.ofSeconds(180));
    assertEquals("completed", done.path("state").asText(), done.toString());
    assertEquals(done.path("total_steps").asLong(), done.path("steps").asLong(), done.toString());

    // A's round with B aborted at its deadline: silence, not a broken connection, and not a hang.
    String log = cluster.nodes.logText("worker-a");
    String firstAbort = log.lines().filter(l -> l.contains("all-reduce round aborted")).findFirst().orElse(null);
    assertTrue(firstAbort != null, "worker A's round never aborted:\n" + cluster.nodes.tail("worker-a"));
    assertTrue(firstAbort.contains("timed out"), firstAbort);
    long abortedMs = cluster.loggedMs("worker-a", "all-reduce round aborted", partitionedMs);
    System.out.println("[measure] scenario=ring-partition sync_timeout_ms=3000 abort_after_partition_ms="
        + (abortedMs - partitionedMs) + " (" + firstAbort + ")");

    RunFiles files = cluster.files(RUN_ID);
    List<JsonNode> rings = files.events("ring_formed");
    assertEquals(2, rings.get(0).get("shards").size(), rings.toString());
    long firstEpoch = rings.get(0).get("epoch").asLong();
    // A ring of A's shard alone, newer than the first, after the partition.
    JsonNode without = rings.stream().filter(r -> r.get("shards").size() == 1
        && r.get("shards").get(0).asInt() == shardOfA && ClusterScenario.unixMs(r) >= partitionedMs).findFirst()
        .orElseThrow(() -> new AssertionError("no ring without the cut-off member: " + rings));
    assertTrue(without.get("epoch").asLong() > firstEpoch, without.toString());
    System.out.println("[measure] scenario=ring-partition ring_without_b_ms="
        + (ClusterScenario.unixMs(without) - partitionedMs) + " why=" + without.get("why").asText());
    // B's shard, started again on the spare worker, is back on a newer ring.
    int lost = shardOfB;
    JsonNode rejoined = rings.stream().filter(r -> r.get("shards").size() == 2
        && r.get("epoch").asLong() > without.get("epoch").asLong()).findFirst()
        .orElseThrow(() -> new AssertionError("shard " + lost + " never rejoined a ring: " + rings));
    int indexOfB = rejoined.get("shards").get(0).asInt() == shardOfB ? 0 : 1;
    assertTrue(rejoined.get("attempts").get(indexOfB).asInt() >= 2, rejoined.toString());
    assertEquals(1, files.events("worker_lost").size(), "only worker B was lost: " + files.events("worker_lost"));
  }

  private JsonNode awaitShardsPast(ApiClient api, long step) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    JsonNode last = null;
    while (System.nanoTime() < deadline) {
      try {
        last = api.run(RUN_ID);
        boolean past = last.path("shards").size() == 2;
        for (JsonNode shard : last.path("shards")) past &= shard.path("step").asLong() >= step;
        if (past) return last;
      } catch (java.io.IOException e) {
        // not up yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError("the shards never passed step " + step + "; last seen: " + last);
  }
}
