package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Partitions and pauses across node JVMs, with cluster.conf as shipped (failure detector: acceptable-heartbeat-pause
 * 3 s; split-brain resolver: keep-majority, stable-after 4 s). Two hosts are this one and a network namespace joined
 * by a veth pair (a {@link NetNamespace}): the coordinator and worker A on this side, worker B (or, in one scenario,
 * the active coordinator) inside, and a spare worker on this side that joins once both shards run, so that a lost
 * shard has somewhere to go at once. The run: 2 shards, epochs = 3, stub.samples = 20000, stub.step-time = 30 ms.
 *
 * <p>What each scenario proves is in its name; the numbers each one prints as {@code [measure]} lines are what
 * {@code bench/partition.sh} collects for BENCHMARKS.md. Needs root and iproute2 (not the SIGSTOP scenario); without
 * them the tests fail saying so.
 */
@Timeout(300)
class PartitionTest {
  private static final int CHECKPOINT_EVERY = 20;
  private static final long STEP_MS = 30;
  /**
   * How long an unreachable worker may train on after the coordinator took it for lost (README): the failure
   * detectors of its node and the coordinator's see the partition up to a heartbeat interval (1 s) and an
   * unreachable-reaper tick (1 s) apart, and its attempt stops within a step.
   */
  private static final long LEASE_MS = 2_000 + STEP_MS;
  private static final String RUN_ID = "partitioned";

  /** Kept when a test fails: the node logs and the run directory say what happened. */
  @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir;
  private ClusterScenario cluster;

  @BeforeEach
  void cluster() {
    cluster = new ClusterScenario(dir);
  }

  @AfterEach
  void killEverything() {
    cluster.close();
  }

  private static List<String> runConfig(int samples) {
    return List.of("shards=2", "epochs=3", "stub.samples=" + samples, "stub.step-time=" + STEP_MS + "ms",
        "checkpoint.every-steps=" + CHECKPOINT_EVERY);
  }

  /** What a scenario's run looks like once both shards train: where B's shard is, and when the run started. */
  private record Running(ApiClient api, int shardOfB, String workerOfB, long startedMs) {}

  /**
   * The coordinator and worker A on {@code hostA}, worker B on {@code hostB} (inside {@code ns} unless null), a run of
   * 2 shards on A and B, then a spare worker on A's side.
   */
  private Running twoHostsTraining(NetNamespace ns, String hostA, String hostB, int samples) throws Exception {
    int artery = NodeProcesses.freePort();
    String seed = hostA + ":" + artery;
    ApiClient api = cluster.client(cluster.startCoordinator("coordinator", null, hostA, artery,
        NodeProcesses.freePort(), null));
    cluster.startWorker("worker-a", null, hostA, seed, "cpu");
    cluster.startWorker("worker-b", ns, hostB, seed, "cpu");
    cluster.awaitWorkers(api, 2);
    api.submit("", runConfig(samples), RUN_ID);
    JsonNode running = ClusterScenario.awaitCheckpoints(api, RUN_ID, 0, Duration.ofSeconds(60));
    cluster.startWorker("worker-spare", null, hostA, seed, "cpu");
    cluster.awaitWorkers(api, 3);
    String nodeOfB = cluster.workerNodeId("worker-b");
    for (JsonNode shard : running.path("shards")) {
      String worker = shard.path("worker_id").asText();
      if (worker.startsWith(nodeOfB + "/")) {
        return new Running(api, shard.path("shard").asInt(), worker, running.path("started_unix_ms").asLong());
      }
    }
    throw new AssertionError("no shard runs on worker B (" + nodeOfB + "): " + running);
  }

  /** Sleeps until {@code unixMs} (not at all if it has passed). */
  private static void sleepUntil(long unixMs) throws InterruptedException {
    long left = unixMs - System.currentTimeMillis();
    if (left > 0) Thread.sleep(left);
  }

  /** The run completed, every shard completed exactly once, and every step was trained. */
  private JsonNode assertCompletedOnce(ApiClient api) throws Exception {
    JsonNode done = ClusterScenario.awaitEnd(api, RUN_ID, Duration.ofSeconds(150));
    assertEquals("completed", done.path("state").asText(), done.toString());
    assertEquals(done.path("total_steps").asLong(), done.path("steps").asLong(), done.toString());
    RunFiles files = cluster.files(RUN_ID);
    assertEquals(List.of(0, 1), files.events("shard_completed").stream().map(e -> e.path("shard").asInt()).sorted()
        .collect(Collectors.toList()), "each shard completed exactly once");
    return files.runCompleted();
  }

  /** When shard {@code shard} first started again after attempt {@code attempt}, unix ms. */
  private long restartedMs(int shard, int attempt) {
    return cluster.files(RUN_ID).events("shard_started").stream()
        .filter(e -> e.path("shard").asInt() == shard && e.path("attempt").asInt() > attempt)
        .mapToLong(ClusterScenario::unixMs).min()
        .orElseThrow(() -> new AssertionError("shard " + shard + " never started again after attempt " + attempt));
  }

  private static void measure(String scenario, String what, long ms) {
    System.out.println("[measure] scenario=" + scenario + " " + what + "=" + ms);
  }

  @Test
  void aWorkerPartitionedPastTheDowningWindowWritesNothingOnceTakenForLostAndItsShardCompletesOnceElsewhere()
      throws Exception {
    NetNamespace ns = cluster.namespace();
    Running run = twoHostsTraining(ns, ns.hostAddress(), ns.nsAddress(), 20_000);
    sleepUntil(run.startedMs() + 9_000);
    long partitionedMs = System.currentTimeMillis();
    ns.partition();

    ClusterScenario.await(() -> !cluster.eventsSoFar(RUN_ID, "worker_lost").isEmpty(), Duration.ofSeconds(30),
        "worker B taken for lost");
    Path zombieDir = cluster.attemptDir(RUN_ID, run.shardOfB(), 1);
    Map<String, Long> atLost = ClusterScenario.checkpoints(zombieDir);
    JsonNode lost = cluster.files(RUN_ID).events("worker_lost").get(0);
    long lostMs = ClusterScenario.unixMs(lost);
    sleepUntil(partitionedMs + 25_000);
    ns.heal();

    JsonNode completed = assertCompletedOnce(run.api());
    Map<String, Long> after = ClusterScenario.checkpoints(zombieDir);
    long lastWriteMs = ClusterScenario.lastWrite(after);
    System.out.println("partitioned at " + partitionedMs + ", B's files at worker_lost " + atLost + ", after " + after);
    measure("partition-25s", "lost_ms", lostMs - partitionedMs);
    measure("partition-25s", "training_elsewhere_ms", restartedMs(run.shardOfB(), 1) - partitionedMs);
    measure("partition-25s", "zombie_last_write_ms", lastWriteMs - partitionedMs);
    long fencedMs = cluster.loggedMs("worker-b", "at once, writing nothing more", partitionedMs);
    if (fencedMs > 0) {
      measure("partition-25s", "zombie_fenced_ms", fencedMs - partitionedMs);
      measure("partition-25s", "zombie_trained_after_lost_ms", fencedMs - lostMs);
    }
    measure("partition-25s", "steps_redone", completed.path("steps_redone").asLong());
    assertEquals(run.workerOfB(), lost.path("worker_id").asText());
    assertEquals(atLost, after, "worker B wrote no checkpoint after it was taken for lost");
    assertTrue(lastWriteMs <= lostMs, "B's last write (" + lastWriteMs + ") is not after worker_lost (" + lostMs + ")");
    long redoneBound = CHECKPOINT_EVERY + LEASE_MS / STEP_MS;
    assertTrue(completed.path("steps_redone").asLong() <= redoneBound,
        "at most a checkpoint interval and the lease redone (" + redoneBound + "): " + completed);
  }

  @Test
  void aPartitionShorterThanTheFailureDetectorsPauseReassignsNothing() throws Exception {
    NetNamespace ns = cluster.namespace();
    Running run = twoHostsTraining(ns, ns.hostAddress(), ns.nsAddress(), 20_000);
    sleepUntil(run.startedMs() + 9_000);
    ns.partition();
    Thread.sleep(1_500);
    ns.heal();

    JsonNode completed = assertCompletedOnce(run.api());
    RunFiles files = cluster.files(RUN_ID);
    assertEquals(List.of(), files.events("worker_lost"), "nobody was taken for lost");
    assertEquals(List.of(), files.events("shard_reassigned"));
    assertEquals(List.of(), files.events("shard_stopped"));
    assertTrue(files.events("shard_started").stream().allMatch(e -> e.path("attempt").asInt() == 1),
        "every shard trained in its first attempt");
    assertEquals(0, completed.path("steps_redone").asLong(), completed.toString());
  }

  @Test
  void aWorkerPausedLongerThanTheDowningWindowWritesNothingWhenItWakes() throws Exception {
    Running run = twoHostsTraining(null, "127.0.0.1", "127.0.0.1", 20_000);
    sleepUntil(run.startedMs() + 9_000);
    long pausedMs = System.currentTimeMillis();
    cluster.nodes.pause("worker-b");
    Thread.sleep(20_000);
    Path zombieDir = cluster.attemptDir(RUN_ID, run.shardOfB(), 1);
    Map<String, Long> beforeWaking = ClusterScenario.checkpoints(zombieDir);
    long resumedMs = System.currentTimeMillis();
    cluster.nodes.resume("worker-b");

    JsonNode completed = assertCompletedOnce(run.api());
    Map<String, Long> after = ClusterScenario.checkpoints(zombieDir);
    assertEquals(beforeWaking, after, "the woken attempt wrote nothing");
    long lastWriteMs = ClusterScenario.lastWrite(after);
    assertTrue(lastWriteMs < resumedMs);
    long lostMs = ClusterScenario.unixMs(cluster.files(RUN_ID).events("worker_lost").get(0));
    assertTrue(completed.path("steps_redone").asLong() <= CHECKPOINT_EVERY + LEASE_MS / STEP_MS, completed.toString());
    measure("sigstop-20s", "lost_ms", lostMs - pausedMs);
    measure("sigstop-20s", "training_elsewhere_ms", restartedMs(run.shardOfB(), 1) - pausedMs);
    measure("sigstop-20s", "zombie_last_write_ms", lastWriteMs - pausedMs);
    long fencedMs = cluster.loggedMs("worker-b", "at once, writing nothing more", pausedMs);
    if (fencedMs > 0) measure("sigstop-20s", "zombie_fenced_after_waking_ms", fencedMs - resumedMs);
    measure("sigstop-20s", "steps_redone", completed.path("steps_redone").asLong());
  }

  @Test
  void aFlappingLinkNeverHasAShardTrainedTwiceAtOnceForLongerThanTheLease() throws Exception {
    NetNamespace ns = cluster.namespace();
    Running run = twoHostsTraining(ns, ns.hostAddress(), ns.nsAddress(), 40_000);
    sleepUntil(run.startedMs() + 9_000);
    long flapStartMs = System.currentTimeMillis();
    // Down 5 s (longer than the failure detector waits: B is taken for lost, its node takes the coordinator's for
    // unreachable) and up 3 s (shorter than the split-brain resolver's stable-after: nobody is downed), for a minute.
    while (System.currentTimeMillis() - flapStartMs < 60_000) {
      ns.partition();
      Thread.sleep(5_000);
      ns.heal();
      Thread.sleep(3_000);
    }
    System.out.println("flapped for " + (System.currentTimeMillis() - flapStartMs) + " ms");

    JsonNode completed = assertCompletedOnce(run.api());
    // For each attempt the run gave up on: how long it went on writing after its successor started.
    Map<Integer, Map<Integer, Long>> starts = new TreeMap<>();
    for (JsonNode started : cluster.files(RUN_ID).events("shard_started")) {
      starts.computeIfAbsent(started.path("shard").asInt(), s -> new TreeMap<>())
          .merge(started.path("attempt").asInt(), ClusterScenario.unixMs(started), Math::min);
    }
    long worstOverlapMs = Long.MIN_VALUE;
    List<String> overlaps = new ArrayList<>();
    for (Map.Entry<Integer, Map<Integer, Long>> shard : starts.entrySet()) {
      List<Integer> attempts = new ArrayList<>(shard.getValue().keySet());
      for (int i = 0; i + 1 < attempts.size(); i++) {
        long lastWrite = ClusterScenario.lastWrite(ClusterScenario.checkpoints(
            cluster.attemptDir(RUN_ID, shard.getKey(), attempts.get(i))));
        if (lastWrite == Long.MIN_VALUE) continue; // it wrote no checkpoint at all
        long overlap = lastWrite - shard.getValue().get(attempts.get(i + 1));
        overlaps.add("shard " + shard.getKey() + " attempt " + attempts.get(i) + ": " + overlap + " ms");
        worstOverlapMs = Math.max(worstOverlapMs, overlap);
      }
    }
    System.out.println("attempts given up on, last write minus the next attempt's start: " + overlaps);
    assertTrue(worstOverlapMs <= LEASE_MS, "an attempt given up on wrote " + worstOverlapMs
        + " ms after the next one started (lease " + LEASE_MS + " ms): " + overlaps);
    measure("flapping", "worker_lost_events", cluster.files(RUN_ID).events("worker_lost").size());
    measure("flapping", "attempts", cluster.files(RUN_ID).events("shard_started").size());
    measure("flapping", "steps_redone", completed.path("steps_redone").asLong());
    if (worstOverlapMs != Long.MIN_VALUE) measure("flapping", "worst_overlap_ms", worstOverlapMs);
  }

  /** The store's runs, shards and incarnation counter, read-only, as text. */
  private String storeSnapshot() throws Exception {
    java.util.Properties readOnly = new java.util.Properties();
    readOnly.setProperty("open_mode", "1");
    StringBuilder text = new StringBuilder();
    try (java.sql.Connection db = java.sql.DriverManager.getConnection(
        "jdbc:sqlite:" + cluster.runsDir.resolve("quarry.db"), readOnly)) {
      for (String query : List.of("SELECT * FROM counters ORDER BY counter_name", "SELECT * FROM runs ORDER BY run_id",
          "SELECT * FROM shards ORDER BY run_id, shard")) {
        try (java.sql.ResultSet rows = db.createStatement().executeQuery(query)) {
          int columns = rows.getMetaData().getColumnCount();
          while (rows.next()) {
            for (int c = 1; c <= columns; c++) text.append(rows.getString(c)).append(c == columns ? "\n" : "|");
          }
        }
      }
    }
    return text.toString();
  }

  private static String incarnation(String storeSnapshot) {
    return storeSnapshot.lines().filter(line -> line.startsWith("incarnation|")).findFirst().orElse("");
  }

  @Test
  void theActiveCoordinatorPartitionedFromTheMajorityFencesItselfBeforeTheStandbyTakesOverAndTheRunCompletesOnce()
      throws Exception {
    NetNamespace ns = cluster.namespace();
    int artery1 = NodeProcesses.freePort();
    int artery2 = NodeProcesses.freePort();
    String seeds = ns.nsAddress() + ":" + artery1 + "," + ns.hostAddress() + ":" + artery2;
    cluster.startCoordinator("coordinator-1", ns, ns.nsAddress(), artery1, NodeProcesses.freePort(), null);
    ApiClient standby = cluster.client(cluster.startCoordinator("coordinator-2", null, ns.hostAddress(), artery2,
        NodeProcesses.freePort(), ns.nsAddress() + ":" + artery1));
    cluster.startWorker("worker-a", null, ns.hostAddress(), seeds, "cpu");
    cluster.startWorker("worker-b", null, ns.hostAddress(), seeds, "cpu");
    cluster.awaitWorkers(standby, 2);
    standby.submit("", runConfig(20_000), RUN_ID);
    JsonNode running = ClusterScenario.awaitCheckpoints(standby, RUN_ID, CHECKPOINT_EVERY, Duration.ofSeconds(60));
    sleepUntil(running.path("started_unix_ms").asLong() + 9_000);
    long partitionedMs = System.currentTimeMillis();
    ns.partition();

    // The old coordinator downs itself (the smaller side) and raises its write fence; from then on, until the standby
    // takes its incarnation, nobody may write the run's files or its records.
    String fenceLine = "coordinator node fenced at unix ms ";
    cluster.nodes.awaitLog("coordinator-1", fenceLine, Duration.ofSeconds(60));
    String log = cluster.nodes.logText("coordinator-1");
    String after = log.substring(log.indexOf(fenceLine) + fenceLine.length());
    long fencedMs = Long.parseLong(after.substring(0, after.indexOf(':')));
    Path events = cluster.runsDir.resolve(RUN_ID).resolve("events.jsonl");
    List<String> eventsAtFence = java.nio.file.Files.readAllLines(events);
    String storeAtFence = storeSnapshot();
    ClusterScenario.await(() -> {
      String store = storeSnapshot();
      if (!incarnation(store).equals(incarnation(storeAtFence))) return true; // the standby took over
      assertEquals(storeAtFence, store, "nothing wrote the run store between the old coordinator's fence and the "
          + "standby's start");
      return false;
    }, Duration.ofSeconds(60), "the standby coordinator takes a new incarnation");
    ClusterScenario.await(() -> !cluster.eventsSoFar(RUN_ID, "run_recovered").isEmpty(), Duration.ofSeconds(30),
        "the standby recovers the run");
    ns.heal();

    JsonNode completed = assertCompletedOnce(standby);
    List<String> lines = java.nio.file.Files.readAllLines(events);
    int recoveredAt = 0;
    while (!lines.get(recoveredAt).contains("\"type\":\"run_recovered\"")) recoveredAt++;
    assertEquals(eventsAtFence, lines.subList(0, recoveredAt),
        "nothing was written to events.jsonl between the old coordinator's fence and the standby's recovery");
    long recoveredMs = ClusterScenario.unixMs(cluster.files(RUN_ID).events("run_recovered").get(0));
    assertTrue(fencedMs < recoveredMs, "the old coordinator fenced itself (" + fencedMs + ") before the standby "
        + "recovered the run (" + recoveredMs + ")");
    long trainingAgainMs = cluster.files(RUN_ID).events("shard_started").stream().mapToLong(ClusterScenario::unixMs)
        .filter(ms -> ms >= recoveredMs).min().orElse(-1);
    ClusterScenario.await(() -> !cluster.nodes.alive("coordinator-1"), Duration.ofSeconds(60),
        "the downed coordinator's JVM exits");
    measure("coordinator-partition", "old_fenced_ms", fencedMs - partitionedMs);
    measure("coordinator-partition", "recovered_ms", recoveredMs - partitionedMs);
    if (trainingAgainMs > 0) measure("coordinator-partition", "training_again_ms", trainingAgainMs - partitionedMs);
    measure("coordinator-partition", "steps_redone", completed.path("steps_redone").asLong());
    assertTrue(completed.path("steps_redone").asLong() <= 2 * (CHECKPOINT_EVERY + LEASE_MS / STEP_MS),
        "at most a checkpoint interval and the lease redone per shard: " + completed);
  }
}
