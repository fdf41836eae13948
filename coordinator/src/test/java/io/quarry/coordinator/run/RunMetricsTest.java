package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quarry.protocol.RunCommand.ShardCompleted;
import io.quarry.protocol.RunCommand.ShardFailed;
import io.quarry.protocol.RunCommand.ShardProgressed;
import io.quarry.protocol.RunCommand.ShardStarted;
import io.quarry.protocol.RunCommand.ShardStopped;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunMetricsSnapshot;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunMetricsTest {
  private final RunMetrics metrics = new RunMetrics();

  private static ShardProgressed progressed(int shard, int attempt, String worker, long step, long samples) {
    return new ShardProgressed("r", shard, attempt, worker, step, samples, 1f, RunCounters.ZERO);
  }

  private RunMetricsSnapshot.WorkerTotals worker(String id) {
    return metrics.snapshot().workers().stream().filter(w -> w.workerId().equals(id)).findFirst().orElseThrow();
  }

  @Test
  void countsWhatEachReportAddsPerWorkerSoTotalsOnlyGrow() {
    metrics.report(new ShardStarted("r", 0, 1, "w0", 0), 1_000);
    metrics.report(progressed(0, 1, "w0", 10, 320), 2_000);
    metrics.report(progressed(0, 1, "w0", 10, 320), 2_500); // the same report again: nothing more
    metrics.report(progressed(0, 1, "w0", 8, 256), 2_600); // an older one, late: nothing more
    metrics.report(progressed(0, 1, "w0", 25, 800), 3_000);
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w0", 25, 800), worker("w0"));
    metrics.report(new ShardStopped("r", 0, 1, "w0", 30, 30, 960, RunCounters.ZERO), 3_500);
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w0", 30, 960), worker("w0"));
    // The shard's next attempt resumes from its checkpoint at step 20 on another worker: its steps count from there.
    metrics.report(new ShardStarted("r", 0, 2, "w1", 20), 4_000);
    metrics.report(progressed(0, 2, "w1", 35, 480), 5_000);
    metrics.report(new ShardCompleted("r", 0, 2, "w1", 40, 20, 640, RunCounters.ZERO, 0.1f, Float.NaN, Float.NaN),
        6_000);
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w1", 20, 640), worker("w1"));
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w0", 30, 960), worker("w0"), "the first worker's totals stay");
    // A final report of an attempt already ended (redelivered): nothing more.
    metrics.report(new ShardCompleted("r", 0, 2, "w1", 40, 20, 640, RunCounters.ZERO, 0.1f, Float.NaN, Float.NaN),
        7_000);
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w1", 20, 640), worker("w1"));
  }

  @Test
  void aFailedAttemptCountsTheStepsItTrainedFromWhereItStarted() {
    metrics.report(new ShardStarted("r", 1, 1, "w0", 50), 0);
    metrics.report(progressed(1, 1, "w0", 60, 320), 1_000);
    metrics.report(new ShardFailed("r", 1, 1, "w0", "boom", 15, 480, RunCounters.ZERO), 2_000);
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w0", 15, 480), worker("w0"));
  }

  @Test
  void anAttemptNotSeenStartingCountsFromItsFirstReport() {
    metrics.report(progressed(0, 3, "w0", 100, 3_200), 1_000);
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w0", 0, 0), worker("w0"));
    metrics.report(progressed(0, 3, "w0", 110, 3_520), 2_000);
    assertEquals(new RunMetricsSnapshot.WorkerTotals("w0", 10, 320), worker("w0"));
  }

  @Test
  void stepDurationsAreTheTimeBetweenReportsSpreadOverTheirSteps() {
    metrics.report(new ShardStarted("r", 0, 1, "w0", 0), 0);
    metrics.report(progressed(0, 1, "w0", 100, 3_200), 2_000); // 20 ms a step, 100 times
    metrics.report(progressed(0, 1, "w0", 101, 3_232), 3_000); // 1 s for one step
    RunMetricsSnapshot.Histogram steps = metrics.snapshot().stepSeconds();
    assertEquals(101, steps.count());
    assertEquals(3.0, steps.sum(), 1e-9);
    int twentyMs = java.util.Arrays.binarySearch(RunMetrics.STEP_BOUNDS_SECONDS, 0.025);
    assertEquals(100, steps.counts()[twentyMs], "20 ms falls in the (10 ms, 25 ms] bucket");
    int oneSecond = java.util.Arrays.binarySearch(RunMetrics.STEP_BOUNDS_SECONDS, 1.0);
    assertEquals(1, steps.counts()[oneSecond]);
  }

  @Test
  void mergesAreObservedWithTheirSize() {
    metrics.merged(0.004, 64);
    metrics.merged(3.0, 12);
    RunMetricsSnapshot snapshot = metrics.snapshot();
    assertEquals(2, snapshot.mergeSeconds().count());
    assertEquals(3.004, snapshot.mergeSeconds().sum(), 1e-9);
    assertEquals(12, snapshot.lastMergeEntries());
    assertArrayEquals(RunMetrics.MERGE_BOUNDS_SECONDS, snapshot.mergeSeconds().upperBounds());
    assertEquals(List.of(), new RunMetrics().snapshot().workers());
  }
}
