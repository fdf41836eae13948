package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunUpdate;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A run's totals, counters and progress, from lifecycle reports alone. */
class RunProgressTest {
  private static RunCounters dropped(long events) {
    return RunCounters.ZERO.with(RunCounter.TELEMETRY_DROPPED, events);
  }

  @Test
  void workersRunningTotalsCountOncePerWorkerHoweverOftenTheyArrive() {
    RunProgress progress = new RunProgress(1_000, 0, RunTotals.ZERO);

    progress.shardProgressed("w1", 1f, dropped(2), true);
    progress.shardProgressed("w1", 1f, dropped(5), true);
    progress.shardProgressed("w1", 1f, dropped(3), true); // late: an older running total
    progress.attemptEnded("w2", 10, 100, dropped(4));
    progress.attemptEnded("w2", 10, 100, dropped(4)); // sent again after a failover

    assertEquals(9, progress.droppedEvents(), "w1's 5 and w2's 4");
    assertEquals(20, progress.stepsTrained(), "what final reports trained is added");
  }

  @Test
  void theRunsOwnCountersAddUpAndMaximaKeepTheLargest() {
    RunProgress progress = new RunProgress(1_000, 0, RunTotals.ZERO);
    progress.count(RunCounter.MERGE_GATHER_MS_MAX, 30);
    progress.count(RunCounter.MERGE_GATHER_MS_MAX, 12);
    progress.count(RunCounter.SHARD_RETRIES, 1);
    progress.count(RunCounter.SHARD_RETRIES, 1);
    progress.set(RunCounter.PAYLOADS_WRITTEN, 7);

    RunCounters counters = progress.counters();
    assertEquals(30, counters.get(RunCounter.MERGE_GATHER_MS_MAX));
    assertEquals(2, counters.get(RunCounter.SHARD_RETRIES));
    assertEquals(7, counters.get(RunCounter.PAYLOADS_WRITTEN));
  }

  @Test
  void aRecoveredRunContinuesItsCountersWithoutCountingAWorkersTotalsTwice() {
    RunProgress before = new RunProgress(1_000, 2_000, RunTotals.ZERO);
    before.shardProgressed("w1", 0.5f, dropped(5), true);
    before.count(RunCounter.SHARDS_REASSIGNED, 1);
    RunTotals stored = RunRecords.totals(RunRecords.totalsJson(before.totals(3, 0)));

    RunProgress after = new RunProgress(1_000, 2_000, stored);
    after.shardProgressed("w1", 0.4f, dropped(6), true); // the worker kept counting through the failover
    after.count(RunCounter.SHARDS_REASSIGNED, 1);

    assertEquals(6, after.droppedEvents());
    assertEquals(2, after.counters().get(RunCounter.SHARDS_REASSIGNED));
    assertEquals(0.4f, after.lastLoss());
  }

  @Test
  void onlyAnAttemptTheRunFollowsSetsTheLoss() {
    RunProgress progress = new RunProgress(1_000, 0, RunTotals.ZERO);
    progress.shardProgressed("w1", 0.9f, RunCounters.ZERO, true);
    progress.shardProgressed("w2", 5f, RunCounters.ZERO, false);
    progress.shardProgressed("w1", Float.NaN, RunCounters.ZERO, true);

    assertEquals(0.9f, progress.lastLoss());
  }

  @Test
  void completedShardsKeepTheirFinalEvaluation() {
    RunProgress progress = new RunProgress(1_000, 0, RunTotals.ZERO);
    progress.shardCompleted(0, 0.3f, 0.2f, 0.9f);
    progress.shardCompleted(1, 0.1f, Float.NaN, Float.NaN);

    RunTotals totals = progress.totals(0, 0);
    assertEquals(Map.of(0, new RunTotals.ShardMetrics(0.2f, 0.9f)), totals.shardMetrics());
    assertEquals(0.1f, totals.lastLoss());
    assertEquals(0.2, RunRecords.meanValLoss(totals), 1e-6);
  }

  @Test
  void throughputIsStepsTimesTheBatchSinceSubmission() {
    RunProgress progress = new RunProgress(1_000, 0, RunTotals.ZERO);
    assertTrue(progress.start(1_500));
    assertFalse(progress.start(1_600), "a run starts once");

    RunUpdate.Progressed update = progress.update("r", RunState.RUNNING, 50, 200, 32, 3_000);

    assertEquals(2_000, update.elapsedMs());
    assertEquals(50 * 32 / 2.0, update.samplesPerSec(), 1e-9);
    assertEquals(1_500, progress.startedAtMs());
  }

  @Test
  void aTelemetryBatchIsWrittenOncePerAttemptStream() {
    TelemetryBatches batches = new TelemetryBatches();
    assertTrue(batches.isNew("w1", 0, 1, 0));
    assertTrue(batches.isNew("w1", 0, 1, 1));
    assertFalse(batches.isNew("w1", 0, 1, 1), "sent again");
    assertTrue(batches.isNew("w1", 0, 2, 0), "a new attempt numbers its batches from 0");
  }
}
