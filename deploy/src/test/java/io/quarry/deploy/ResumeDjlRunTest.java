package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.ResumeOutcome;
import io.quarry.protocol.CoordinatorCommand.ResumeReply;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DJL run on the repository's 8×8 digits, stopped mid-way and resumed, ends with the validation accuracy of the same
 * run trained without a stop (within a tolerance: a shard resumed from a checkpoint continues exactly, so only the
 * steps trained again past the checkpoint could differ — none here, the stop comes right after one).
 */
@Timeout(240)
class ResumeDjlRunTest {
  private static final Path DIGITS = Path.of("../data/digits/digits.csv.gz").toAbsolutePath().normalize();
  /** 1,438 training samples / 32 a batch = 45 steps an epoch; 8 epochs. */
  private static final List<String> RUN = List.of("trainer=djl", "model.type=mlp", "dataset.format=csv",
      "dataset.path=\"" + DIGITS + "\"", "shards=1", "epochs=8", "batch-size=32", "optimizer.lr=0.005",
      "model.hidden=[64]", "seed=1", "checkpoint.every-steps=15", "telemetry.enabled=false");

  @TempDir Path tmp;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private RunSummary submit(String runId, CountDownLatch stopAt, long steps) throws Exception {
    SubmitReply reply = cluster.submit(new RunSpec(runId, RunConfig.fromOverrides(RUN, Map.of()).toHocon()))
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply::toString);
    var following = cluster.follow(runId, p -> {
      if (stopAt != null && p.steps() >= steps) stopAt.countDown();
    });
    if (stopAt != null) {
      assertTrue(stopAt.await(90, TimeUnit.SECONDS), "the run never got mid-way");
      cluster.stop(runId, "stopped mid-way").toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    return following.get(120, TimeUnit.SECONDS);
  }

  @Test
  void aResumedDjlRunEndsWithTheAccuracyOfAnUninterruptedOne() throws Exception {
    assertTrue(Files.isRegularFile(DIGITS), "missing " + DIGITS);
    cluster = LocalCluster.start(1, tmp.resolve("runs"), ConfigFactory.parseString(
        "quarry.worker.data-roots = [\"" + DIGITS.getParent() + "\"]\nquarry.worker.progress-interval = 50ms\nquarry.coordinator.progress-interval = 50ms")
            .withFallback(
            ConfigFactory.parseResources("application-test.conf")));
    RunSummary whole = submit("whole", null, 0);
    assertEquals(RunState.COMPLETED, whole.status(), whole.reason());

    RunSummary stopped = submit("halves", new CountDownLatch(1), 150);
    assertEquals(RunState.STOPPED, stopped.status(), stopped.reason());
    assertTrue(stopped.steps() < 300, "stopped mid-way: " + stopped.steps());
    ResumeReply reply = cluster.client().resume("halves", List.of()).toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertEquals(ResumeOutcome.RESUMED, reply.outcome(), reply.message());
    RunSummary resumed = cluster.follow("halves", p -> {}).get(120, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, resumed.status(), resumed.reason());
    assertEquals(360, resumed.steps());

    JsonNode started = new RunFiles(tmp.resolve("runs/halves")).events("shard_started").get(1);
    assertTrue(started.get("start_step").asLong() >= 15, "resumed from its checkpoint: " + started);
    System.out.printf("digits, stopped at step %d and resumed from %d: val accuracy %.4f; uninterrupted %.4f%n",
        stopped.steps(), started.get("start_step").asLong(), resumed.valAccuracy(), whole.valAccuracy());
    assertTrue(whole.valAccuracy() >= 0.9, "the uninterrupted run learned: " + whole.valAccuracy());
    assertEquals(whole.valAccuracy(), resumed.valAccuracy(), 0.02, "the resumed run's validation accuracy");
  }
}
