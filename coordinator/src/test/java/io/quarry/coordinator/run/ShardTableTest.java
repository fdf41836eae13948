package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.ShardState;
import java.util.List;
import org.junit.jupiter.api.Test;

class ShardTableTest {
  /** 3 shards of 100 samples, batch 10, 2 epochs: 20 steps each. */
  private final ShardTable table = new ShardTable(ShardPlan.plan(300, 3), 10, 2, 3);

  @Test
  void plansShardsByStableSampleIndexWithSizesWithinOne() {
    List<ShardPlan.Slice> slices = ShardPlan.plan(10, 3);
    assertEquals(List.of(new ShardPlan.Slice(0, 0, 3), new ShardPlan.Slice(1, 3, 3), new ShardPlan.Slice(2, 6, 4)), slices);
    assertEquals(slices, ShardPlan.plan(10, 3), "the same samples land in the same shards");
    List<ShardPlan.Slice> huge = ShardPlan.plan(1L << 40, 1 << 20);
    assertEquals(1L << 40, huge.get(huge.size() - 1).firstSample() + huge.get(huge.size() - 1).sampleCount());
    assertThrows(IllegalArgumentException.class, () -> ShardPlan.plan(2, 3));
    assertEquals(6, ShardPlan.stepsFor(25, 10, 2));
  }

  @Test
  void aShardGoesPendingAssignedRunningDone() {
    assertEquals(0, table.nextPending().getAsInt());
    table.assign(0, "w0");
    assertEquals(ShardState.ASSIGNED, table.shard(0).state());
    assertEquals(1, table.nextPending().getAsInt());
    assertTrue(table.started(0, 1, "w0"));
    assertEquals(ShardState.RUNNING, table.shard(0).state());
    assertTrue(table.checkpointed(0, 1, "w0", 10, "ckpt/step-10"));
    assertTrue(table.completed(0, 1, "w0", 20, 20));
    assertEquals(ShardState.DONE, table.shard(0).state());
    assertEquals(20, table.stepsReached());
    assertEquals(60, table.totalSteps());
    assertFalse(table.allDone());
  }

  @Test
  void aFailedAttemptIsRetriedFromItsCheckpointUntilMaxAttempts() {
    table.assign(1, "w0");
    table.started(1, 1, "w0");
    table.checkpointed(1, 1, "w0", 10, "ckpt/step-10");
    table.progressed(1, 1, 13);
    assertEquals(ShardTable.FailureOutcome.RETRY, table.failed(1, 1, "w0", 10, "boom"));
    ShardTable.Shard shard = table.shard(1);
    assertEquals(ShardState.PENDING, shard.state());
    assertEquals(2, shard.attempt());
    assertEquals("ckpt/step-10", shard.lastCheckpoint(), "the retry resumes from the last checkpoint");
    assertEquals(0, table.stepsRedone(), "nothing trained twice yet");

    table.assign(1, "w1");
    assertEquals(ShardTable.FailureOutcome.RETRY, table.failed(1, 2, "w1", 4, "boom"));
    assertEquals(3, table.stepsRedone(), "attempt 2 started at the checkpoint (10): steps 10..12 trained twice");
    table.assign(1, "w2");
    assertEquals(ShardTable.FailureOutcome.EXHAUSTED, table.failed(1, 3, "w2", 10, "boom again"));
    assertEquals(3 + 4, table.stepsRedone(), "attempt 3 trained 10..19: steps 10..13 once more");
    assertEquals(ShardState.FAILED, shard.state());
    assertEquals(3, shard.failures());
    assertEquals("boom again", shard.lastFailure());
  }

  @Test
  void reportsOfAnAttemptTheTableHasMovedPastAreStale() {
    table.assign(0, "w0");
    table.orphan("w0");
    assertFalse(table.started(0, 1, "w0"));
    assertFalse(table.completed(0, 1, "w0", 20, 20));
    assertEquals(ShardTable.FailureOutcome.STALE, table.failed(0, 1, "w0", 0, "late"));
    table.assign(0, "w1");
    assertFalse(table.completed(0, 2, "w0", 20, 20), "right attempt, wrong worker");
    assertTrue(table.completed(0, 2, "w1", 20, 20));
  }

  @Test
  void aLostWorkersShardsGoBackToPendingWithoutCountingAsFailures() {
    table.assign(0, "w0");
    table.assign(1, "w0");
    table.assign(2, "w1");
    table.checkpointed(0, 1, "w0", 5, "ckpt/0/step-5");
    table.progressed(0, 1, 9);

    assertEquals(List.of(0, 1), table.orphan("w0"));
    assertEquals(ShardState.PENDING, table.shard(0).state());
    assertEquals(2, table.shard(0).attempt());
    assertEquals(0, table.shard(0).failures());
    assertEquals(0, table.stepsRedone(), "nothing trained twice until the next attempt trains steps 5..8 again");
    assertEquals(5, table.shard(0).progressStep(), "progress falls back to the checkpoint the next attempt resumes from");
    table.assign(0, "w1");
    table.progressed(0, 2, 12);
    assertEquals(4, table.stepsRedone());
    assertEquals(ShardState.ASSIGNED, table.shard(2).state());
    assertTrue(table.anyActive());
  }

  @Test
  void aStoppedAttemptWaitsPendingAndRedoesNothing() {
    table.assign(0, "w0");
    table.started(0, 1, "w0");
    assertTrue(table.stopped(0, 1, "w0", 7, 7));
    assertEquals(ShardState.PENDING, table.shard(0).state());
    assertEquals(0, table.stepsRedone());
    assertFalse(table.anyActive());
    assertNull(table.shard(0).workerId());
  }

  @Test
  void allDoneOnlyWhenEveryShardIsDone() {
    for (int i = 0; i < 3; i++) {
      table.assign(i, "w" + i);
      table.completed(i, 1, "w" + i, 20, 20);
    }
    assertTrue(table.allDone());
    assertEquals(60, table.stepsReached());
    assertThrows(IllegalStateException.class, () -> table.assign(0, "w9"));
  }

  @Test
  void aSpeculativeCopyThatFinishesFirstWinsAndTheMainAttemptBecomesStale() {
    table.assign(0, "slow");
    table.started(0, 1, "slow");
    table.checkpointed(0, 1, "slow", 10, "ckpt/0/step-10");
    int copy = table.speculate(0, "fast");
    assertEquals(2, copy);
    assertEquals("fast", table.shard(0).backupWorkerId());
    assertTrue(table.started(0, copy, "fast"));
    assertTrue(table.checkpointed(0, copy, "fast", 15, "ckpt/0/speculative-2/step-15"));
    assertEquals("ckpt/0/step-10", table.shard(0).lastCheckpoint(), "the copy's checkpoints do not replace the main ones");

    assertEquals("slow", table.otherCopy(0, copy)[0]);
    assertTrue(table.completed(0, copy, "fast", 20, 10));
    assertEquals(ShardState.DONE, table.shard(0).state());
    assertEquals("fast", table.shard(0).workerId());
    assertFalse(table.completed(0, 1, "slow", 20, 20), "the loser's report is stale");
    assertFalse(table.stopped(0, 1, "slow", 12, 12));
    assertEquals(2, table.stepsRedone(), "steps 10 and 11 were trained by both copies");
    table.restore(1, ShardState.RUNNING, 1, 0, "w", null, 0, "");
    table.orphan("w");
    assertEquals(2, table.shard(1).attempt(), "attempt numbers count per shard");
  }

  @Test
  void whenTheMainAttemptFailsItsSpeculativeCopyTakesOver() {
    table.assign(0, "slow");
    table.started(0, 1, "slow");
    int copy = table.speculate(0, "fast");
    table.checkpointed(0, copy, "fast", 12, "ckpt/0/speculative-2/step-12");
    assertEquals(ShardTable.FailureOutcome.COPY_CONTINUES, table.failed(0, 1, "slow", 5, "boom"));
    assertEquals(1, table.shard(0).failures());
    assertEquals(copy, table.shard(0).attempt());
    assertEquals("fast", table.shard(0).workerId());
    assertEquals("ckpt/0/speculative-2/step-12", table.shard(0).lastCheckpoint());
    assertTrue(table.completed(0, copy, "fast", 20, 20));
    assertEquals(5, table.stepsRedone(), "the copy trained the main attempt's 5 steps again");
  }

  @Test
  void aFailedOrLostCopyIsDroppedAndTheMainAttemptGoesOn() {
    table.assign(0, "slow");
    table.started(0, 1, "slow");
    int copy = table.speculate(0, "fast");
    assertEquals(ShardTable.FailureOutcome.COPY_CONTINUES, table.failed(0, copy, "fast", 3, "copy broke"));
    assertEquals(0, table.shard(0).failures(), "a copy's failure does not count against the shard");
    assertEquals(null, table.shard(0).backupWorkerId());
    int second = table.speculate(0, "other");
    assertEquals(List.of(), table.orphan("other"));
    assertEquals(null, table.shard(0).backupWorkerId());
    assertEquals(ShardState.RUNNING, table.shard(0).state());
    assertTrue(second > copy);
    assertEquals(List.of(), table.orphan("nobody"));
    table.speculate(0, "third");
    assertEquals(List.of(), table.orphan("slow"), "the lost main attempt's copy takes over instead of a requeue");
    assertEquals("third", table.shard(0).workerId());
  }

  @Test
  void anAttemptThatStartsFromANewerCheckpointThanRecordedRedoesFewerSteps() {
    ShardTable table = new ShardTable(ShardPlan.plan(200, 1), 10, 1, 3); // 20 steps
    table.assign(0, "w0");
    table.started(0, 1, "w0");
    table.checkpointed(0, 1, "w0", 5, "c/0/attempt-1/step-5");
    table.progressed(0, 1, 12);
    table.orphan("w0");
    table.assign(0, "w1");
    // The abandoned attempt trained on to step 10 and checkpointed it before it stopped: the new one starts there.
    assertTrue(table.started(0, 2, "w1", 10, "c/0/attempt-1/step-10"));
    assertEquals(10, table.shard(0).checkpointStep());
    assertEquals("c/0/attempt-1/step-10", table.shard(0).lastCheckpoint());
    assertEquals(10, table.shard(0).progressStep());
    table.progressed(0, 2, 15);
    assertEquals(2, table.stepsRedone(), "only steps 10 and 11 are trained twice");
  }

  @Test
  void anAttemptFencedWhileItsCoordinatorFailedOverCountsWhereItReallyStopped() {
    ShardTable table = new ShardTable(ShardPlan.plan(2000, 1), 10, 1, 3); // 200 steps
    // A new coordinator restores the shard as the store recorded it: running attempt 1, checkpoint at step 20.
    table.restore(0, ShardState.RUNNING, 1, 0, "w0", "c/0/attempt-1/step-20", 20, "");
    // The worker had trained on to step 171 (checkpoint 170) before it fenced the attempt and said so.
    assertTrue(table.stopped(0, 1, "w0", 171, 171));
    table.assign(0, "w0");
    assertTrue(table.started(0, 2, "w0", 170, "c/0/attempt-1/step-170"));
    assertTrue(table.completed(0, 2, "w0", 200, 30));
    assertEquals(1, table.stepsRedone(), "step 170 was trained twice");
    assertEquals(171 + 30, 200 + table.stepsRedone(), "steps trained = the shard's steps + steps redone");
  }

  @Test
  void aRankReleasedWhileItsGroupRestartsWaitsPendingWithoutCountingAFailure() {
    table.assign(0, "w0");
    table.started(0, 1, "w0");

    assertTrue(table.released(0, 1, "w0", 7));
    assertFalse(table.released(0, 1, "w0", 7), "stale the second time");
    ShardTable.Shard shard = table.shard(0);
    assertEquals(ShardState.PENDING, shard.state());
    assertEquals(0, shard.failures());
    assertEquals(2, shard.attempt());
  }

  @Test
  void everyPendingShardResumesFromRankZerosCheckpoint() {
    for (int i = 0; i < 3; i++) {
      table.assign(i, "w" + i);
      table.started(i, 1, "w" + i);
    }
    table.checkpointed(0, 1, "w0", 4, "/runs/r/checkpoints/0/attempt-1/step-4");
    table.progressed(1, 1, 6);
    table.released(0, 1, "w0", 6);
    table.released(1, 1, "w1", 6);
    table.released(2, 1, "w2", 6);

    table.resumeAllFrom(0);

    for (int i = 0; i < 3; i++) {
      assertEquals("/runs/r/checkpoints/0/attempt-1/step-4", table.shard(i).lastCheckpoint());
      assertEquals(4, table.shard(i).checkpointStep());
    }
    for (int i = 0; i < 3; i++) table.assign(i, "w" + i);
    for (int i = 0; i < 3; i++) table.completed(i, 2, "w" + i, 20, 16);
    assertEquals(3 * 2, table.stepsRedone(), "steps 4 and 5 of every rank were trained twice");
  }

  @Test
  void aSmallerGroupReCutsSamplesAndStepsAndCountsWhatItTrainsAgainAndGrowsBack() {
    // 300 samples in 3 shards of 100, batches of 10, 2 epochs: 20 steps a shard.
    for (int i = 0; i < 3; i++) {
      table.assign(i, "w" + i);
      table.started(i, 1, "w" + i);
      table.progressed(i, 1, 8);
    }
    table.checkpointed(0, 1, "w0", 6, "/ck/0/attempt-1/step-6");
    for (int i = 0; i < 3; i++) table.released(i, 1, "w" + i, 8);
    table.resumeAllFrom(0);

    assertEquals(9, table.regroup(2), "step 6 of 3 ranks is step 9 of 2: the same samples trained by the group");

    assertEquals(2, table.worldSize());
    assertEquals(List.of(0L, 150L), List.of(table.shard(0).firstSample, table.shard(1).firstSample));
    assertEquals(150, table.shard(1).sampleCount, "RANK 1 of WORLD_SIZE 2's slice");
    assertEquals(30, table.shard(1).totalSteps);
    ShardTable.Shard folded = table.shard(2);
    assertEquals(ShardState.DONE, folded.state(), "past the world size: no samples, nothing to train");
    assertEquals(List.of(0L, 0L, 0L), List.of(folded.sampleCount, folded.totalSteps, folded.progressStep()));
    assertFalse(table.anyCompleted(), "a folded shard is not a completed rank");
    assertEquals(60, table.totalSteps());
    assertEquals(18, table.stepsReached());
    assertEquals("/ck/0/attempt-1/step-6", table.shard(1).lastCheckpoint());
    assertEquals(3 * 2, table.stepsRedone(), "steps 7 and 8 of the three ranks");

    for (int i = 0; i < 2; i++) {
      table.assign(i, "w" + i);
      table.started(i, 2, "w" + i);
      table.progressed(i, 2, 12);
    }
    table.checkpointed(0, 2, "w0", 11, "/ck/0/attempt-2/step-11");
    for (int i = 0; i < 2; i++) table.released(i, 2, "w" + i, 3);
    table.resumeAllFrom(0);

    assertEquals(7, table.regroup(3), "step 11 of 2 ranks is step 7 of 3, rounded down");

    assertEquals(ShardState.PENDING, table.shard(2).state(), "grown back");
    assertEquals(List.of(200L, 100L, 20L), List.of(table.shard(2).firstSample, table.shard(2).sampleCount,
        table.shard(2).totalSteps));
    assertEquals(21, table.stepsReached());
    assertEquals(6 + 3, table.stepsRedone(), "and the 24 steps trained at world size 2 less the 21 kept");
    long trained = 3 * 8 + 2 * 3;
    for (int i = 0; i < 3; i++) {
      ShardTable.Shard shard = table.assign(i, "w" + i);
      assertTrue(table.completed(i, shard.attempt(), "w" + i, 20, 13));
      trained += 13;
    }
    assertTrue(table.allDone());
    assertEquals(trained, table.totalSteps() + table.stepsRedone(), "steps trained = the run's steps + steps redone");
  }

  @Test
  void aTableTheStoreKeptWhileItsGroupRanSmallerKnowsItsWorldSize() {
    // As the store holds a 2-shard group that ran with one rank: shard 1 folded, with no samples.
    ShardTable kept = new ShardTable(List.of(new ShardPlan.Slice(0, 0, 300), new ShardPlan.Slice(1, 300, 0)), 10, 2, 3);
    kept.restore(0, ShardState.PENDING, 3, 1, null, "/ck/0/attempt-2/step-40", 40, "");
    kept.restore(1, ShardState.DONE, 2, 0, null, null, 0, "");

    assertEquals(1, kept.worldSize());
    assertEquals(60, kept.totalSteps());
    assertFalse(kept.anyCompleted(), "the folded shard is no completed rank");
    assertEquals(20, kept.regroup(2), "step 40 of one rank is step 20 of two");
    assertEquals(List.of(150L, 150L), List.of(kept.shard(1).firstSample, kept.shard(1).sampleCount));
    assertEquals(ShardState.PENDING, kept.shard(1).state());
  }
}
