package io.quarry.worker.trainer.stub;

import static io.quarry.worker.trainer.stub.StubTrainerTest.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.TestTrainerContext;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StubTrainerFaultsTest {
  @TempDir Path root;

  private final ExecutorService trainerThread = Executors.newSingleThreadExecutor();

  @AfterEach
  void shutdown() {
    trainerThread.shutdownNow();
  }

  private TestTrainerContext context(RunConfig config, int shard, int attempt) {
    return TestTrainerContext.forShard(config, shard, attempt, 0, 1000, root.resolve("shard-" + shard), null);
  }

  @Test
  void failAtStepNamesTheKeyShardStepAndAttempt() {
    RunConfig config = config("stub.fail-at-step=7");
    TestTrainerContext context = context(config, 2, 3);
    StubFaultException e = assertThrows(StubFaultException.class, () -> new StubTrainer(config).train(context));
    assertTrue(e.getMessage().contains("stub.fail-at-step=7"), e.getMessage());
    assertTrue(e.getMessage().contains("shard 2"), e.getMessage());
    assertTrue(e.getMessage().contains("step 7"), e.getMessage());
    assertTrue(e.getMessage().contains("attempt 3"), e.getMessage());
    assertEquals(7, context.steps().size(), "the failing step itself is not trained");
  }

  @Test
  void failAttemptsLimitsTheFailureToTheFirstAttempts() throws Exception {
    RunConfig config = config("stub.fail-at-step=7", "stub.fail-attempts=2");
    assertThrows(StubFaultException.class, () -> new StubTrainer(config).train(context(config, 0, 2)));
    ShardResult third = new StubTrainer(config).train(context(config, 0, 3));
    assertEquals(96, third.endStep());
  }

  @Test
  void faultsApplyOnlyToTheFaultShards() throws Exception {
    RunConfig config = config("stub.fail-at-step=7", "stub.fault-shards=[1]");
    ShardResult shard0 = new StubTrainer(config).train(context(config, 0, 1));
    assertFalse(shard0.stopped());
    assertEquals(96, shard0.endStep());
    assertThrows(StubFaultException.class, () -> new StubTrainer(config).train(context(config, 1, 1)));
  }

  @Test
  void stopIsHonouredWithinOneStepEvenWithLongStepTimes() throws Exception {
    RunConfig config = config("stub.step-time=1s");
    TestTrainerContext context = context(config, 0, 1);
    CountDownLatch firstStep = new CountDownLatch(1);
    context.onStep(e -> firstStep.countDown());
    Future<ShardResult> running = trainerThread.submit(() -> new StubTrainer(config).train(context));

    assertTrue(firstStep.await(30, TimeUnit.SECONDS));
    long stopNs = System.nanoTime();
    context.requestStop();
    ShardResult result = running.get(30, TimeUnit.SECONDS);
    long stoppedAfterMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopNs);

    assertTrue(result.stopped());
    assertTrue(stoppedAfterMs < 500, "returned " + stoppedAfterMs + " ms after the stop; a step takes 1000 ms");
    assertTrue(result.stepsTrained() <= 2, "steps trained " + result.stepsTrained());
    assertEquals(result.stepsTrained(), result.endStep());
  }

  @Test
  void hangAtStepBlocksUntilStopped() throws Exception {
    RunConfig config = config("stub.hang-at-step=5");
    TestTrainerContext context = context(config, 0, 1);
    CountDownLatch beforeHang = new CountDownLatch(1);
    context.onStep(e -> {
      if (e.step() == 4) beforeHang.countDown();
    });
    Future<ShardResult> running = trainerThread.submit(() -> new StubTrainer(config).train(context));

    assertTrue(beforeHang.await(30, TimeUnit.SECONDS));
    assertThrows(TimeoutException.class, () -> running.get(200, TimeUnit.MILLISECONDS), "it hangs");
    assertEquals(5, context.steps().size());
    context.requestStop();
    ShardResult result = running.get(30, TimeUnit.SECONDS);

    assertTrue(result.stopped());
    assertEquals(5, result.endStep());
    assertEquals(5, result.stepsTrained());
  }

  @Test
  void slowFactorMultipliesTheStepTimeOfFaultShards() {
    assertEquals(12_000_000L, StubTrainer.stepDelayNs(config("stub.step-time=4ms", "stub.slow-factor=3"), 0));
    assertEquals(4_000_000L, StubTrainer.stepDelayNs(config("stub.step-time=4ms", "stub.slow-factor=3", "stub.fault-shards=[1]"), 0));
    assertEquals(5_000_000L, StubTrainer.stepDelayNs(config("stub.step-time=0", "stub.slow-factor=5"), 0), "1 ms base");
    assertEquals(0L, StubTrainer.stepDelayNs(config("stub.step-time=0"), 0));
  }

  @Test
  void slowShardTakesAtLeastItsPacedTime() throws Exception {
    // Pacing is deadline-based, so a lower bound is exact; no upper bound is asserted (shared CI machines).
    RunConfig slow = config("stub.step-time=5ms", "stub.slow-factor=3", "epochs=1");
    TestTrainerContext context = TestTrainerContext.forShard(slow, 0, 1, 0, 20 * 32, root.resolve("s"), null);
    long startNs = System.nanoTime();
    ShardResult result = new StubTrainer(slow).train(context);
    long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
    assertEquals(20, result.stepsTrained());
    assertTrue(elapsedMs >= 20 * 15, "20 steps of 15 ms took " + elapsedMs + " ms");
  }

  @Test
  void reportedThroughputAccountsForThePacedTime() throws Exception {
    RunConfig paced = config("stub.step-time=20ms", "epochs=1");
    TestTrainerContext context = TestTrainerContext.forShard(paced, 0, 1, 0, 5 * 32, root.resolve("s"), null);
    new StubTrainer(paced).train(context);
    // Each rate covers the time since the previous event. A single interval may be shorter than the step time
    // (deadline pacing catches up after a slow step), but together they span at least the 5 paced steps.
    double accountedSec = 0;
    for (TestTrainerContext.StepEvent e : context.steps()) {
      assertTrue(e.samplesPerSec() > 0 && Float.isFinite(e.samplesPerSec()), "samples/s " + e.samplesPerSec());
      accountedSec += 32 / e.samplesPerSec();
    }
    assertTrue(accountedSec >= 5 * 0.020 * 0.999, "rates account for " + accountedSec + " s");
  }
}
