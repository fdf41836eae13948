package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The coordinator's run queue: runs wait PENDING for free workers, by priority then submission. */
@Timeout(120)
class RunQueueTest {
  @TempDir Path runsDir;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private void submit(String runId, String... overrides) throws Exception {
    List<String> all = new ArrayList<>(List.of("stub.samples=200", "stub.step-time=5ms", "epochs=1"));
    all.addAll(List.of(overrides));
    SubmitReply reply = cluster.submit(new RunSpec(runId, RunConfig.fromOverrides(all, Map.of()).toHocon()))
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply.toString());
  }

  private long eventTime(String runId, String type) {
    return new RunFiles(runsDir.resolve(runId)).events(type).get(0).get("ts_unix_ns").asLong();
  }

  @Test
  void withOneWorkerQueuedRunsRunOneAtATimeInPriorityOrder() throws Exception {
    cluster = LocalCluster.start(0, runsDir, ConfigFactory.parseResources("application-test.conf"));
    submit("low", "priority=0");
    submit("high", "priority=5");
    submit("middle", "priority=1");
    submit("middle-later", "priority=1");
    List<CompletableFuture<RunSummary>> ends = new ArrayList<>();
    for (String id : List.of("low", "high", "middle", "middle-later")) ends.add(cluster.follow(id, p -> {}));
    assertEquals(RunState.PENDING, cluster.client().run("high").toCompletableFuture().get().status().state(),
        "no worker yet: queued");

    cluster.addWorker("local-0", "cpu");
    for (CompletableFuture<RunSummary> end : ends) assertEquals(RunState.COMPLETED, end.get(60, TimeUnit.SECONDS).status());

    List<String> byStart = new ArrayList<>(List.of("low", "high", "middle", "middle-later"));
    byStart.sort(Comparator.comparingLong(id -> eventTime(id, "run_started")));
    assertEquals(List.of("high", "middle", "middle-later", "low"), byStart, "priority first, then submission order");
    for (int i = 1; i < byStart.size(); i++) {
      // The worker is free once the previous run's shard completes (its final merge needs no worker).
      assertTrue(eventTime(byStart.get(i), "run_started") > eventTime(byStart.get(i - 1), "shard_completed"),
          byStart.get(i) + " started after " + byStart.get(i - 1) + "'s training ended: one at a time");
    }
  }

  @Test
  void maxConcurrentRunsHoldsARunBackEvenWithAnIdleWorker() throws Exception {
    cluster = LocalCluster.start(2, runsDir, ConfigFactory.parseString("quarry.coordinator.max-concurrent-runs = 1")
        .withFallback(ConfigFactory.parseResources("application-test.conf")));
    submit("first", "shards=1", "stub.step-time=10ms");
    submit("second", "shards=1");
    RunSummary first = cluster.follow("first", p -> {}).get(60, TimeUnit.SECONDS);
    RunSummary second = cluster.follow("second", p -> {}).get(60, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, first.status());
    assertEquals(RunState.COMPLETED, second.status());
    assertTrue(eventTime("second", "run_started") > eventTime("first", "run_completed"),
        "the second run waited for the first although a worker was idle");
  }

  @Test
  void aQueuedRunCanBeStoppedWithoutStarting() throws Exception {
    cluster = LocalCluster.start(0, runsDir, ConfigFactory.parseResources("application-test.conf"));
    submit("queued");
    assertTrue(cluster.stop("queued", "not needed").toCompletableFuture().get(10, TimeUnit.SECONDS).accepted());
    RunSummary summary = cluster.follow("queued", p -> {}).get(30, TimeUnit.SECONDS);
    assertEquals(RunState.STOPPED, summary.status());
    assertEquals(0, summary.steps());
    RunFiles files = new RunFiles(runsDir.resolve("queued"));
    assertTrue(files.events("run_started").isEmpty(), "it never started");
    JsonNode completed = files.runCompleted();
    assertEquals("stopped", completed.get("status").asText());
    assertEquals("not needed", completed.get("reason").asText());
  }

}
