package io.quarry.worker.trainer.stub;

import static io.quarry.worker.trainer.stub.StubTrainerTest.config;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.worker.checkpoint.CheckpointException;
import io.quarry.worker.checkpoint.CheckpointManifest;
import io.quarry.worker.checkpoint.CheckpointStore;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.TestTrainerContext.Offer;
import io.quarry.worker.trainer.TestTrainerContext.StepEvent;
import io.quarry.worker.trainer.TestTrainerContext;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StubTrainerResumeTest {
  @TempDir Path root;

  private static final int SAMPLES = 1000; // 32 steps per epoch, 96 steps in all

  @Test
  void resumedShardReproducesTheUninterruptedRun() throws Exception {
    RunConfig faulty = config("stub.fail-at-step=45", "stub.fail-attempts=1");
    Path shardDir = root.resolve("faulty");

    TestTrainerContext attempt1 = TestTrainerContext.forShard(faulty, 0, 1, 0, SAMPLES, shardDir, null);
    StubFaultException failure = assertThrows(StubFaultException.class, () -> new StubTrainer(faulty).train(attempt1));
    assertTrue(failure.getMessage().contains("stub.fail-at-step"), failure.getMessage());
    Path resumeFrom = attempt1.lastCheckpoint().orElseThrow();
    assertEquals(shardDir.resolve("step-40"), resumeFrom);

    TestTrainerContext attempt2 = TestTrainerContext.forShard(faulty, 0, 2, 0, SAMPLES, shardDir, resumeFrom);
    ShardResult result = new StubTrainer(faulty).train(attempt2);
    assertEquals(96, result.endStep());
    assertEquals(56, result.stepsTrained());
    assertFalse(result.stopped());

    RunConfig clean = config();
    TestTrainerContext uninterrupted = TestTrainerContext.forShard(clean, 0, 1, 0, SAMPLES, root.resolve("clean"), null);
    new StubTrainer(clean).train(uninterrupted);

    // Stitch the attempts by step index; a redone step must repeat the first attempt exactly.
    TreeMap<Long, StepEvent> stitched = new TreeMap<>();
    for (StepEvent e : attempt1.steps()) stitched.put(e.step(), e);
    int redone = 0;
    for (StepEvent e : attempt2.steps()) {
      StepEvent before = stitched.put(e.step(), e);
      if (before != null) {
        redone++;
        assertEquals(before.loss(), e.loss(), "redone step " + e.step());
        assertEquals(before.lr(), e.lr(), "redone step " + e.step());
      }
    }
    assertEquals(5, redone, "steps 40..44 are redone");
    assertTrue(redone <= faulty.checkpointEverySteps);
    List<StepEvent> expected = uninterrupted.steps();
    assertEquals(expected.size(), stitched.size());
    for (StepEvent e : expected) {
      StepEvent got = stitched.get(e.step());
      assertEquals(e.loss(), got.loss(), "loss at step " + e.step());
      assertEquals(e.lr(), got.lr(), "lr at step " + e.step());
      assertEquals(e.epoch(), got.epoch());
    }

    // Epoch 1 (steps 32..63) spans the failure: its mean needs the running sum from the checkpoint.
    var epochs = new java.util.ArrayList<>(attempt1.epochs());
    epochs.addAll(attempt2.epochs());
    assertEquals(uninterrupted.epochs(), epochs);
    var evals = new java.util.ArrayList<>(attempt1.evals());
    evals.addAll(attempt2.evals());
    assertEquals(uninterrupted.evals(), evals);

    List<Offer> resumedOffers = attempt2.offers();
    List<Offer> cleanOffers = uninterrupted.offers();
    for (Offer offer : resumedOffers) {
      Offer same = cleanOffers.get((int) offer.step());
      assertArrayEquals(same.sampleIds(), offer.sampleIds());
      assertArrayEquals(same.losses(), offer.losses());
    }

    CheckpointManifest resumedEnd = CheckpointStore.load(attempt2.lastCheckpoint().orElseThrow()).orElseThrow();
    CheckpointManifest cleanEnd = CheckpointStore.load(uninterrupted.lastCheckpoint().orElseThrow()).orElseThrow();
    assertEquals(cleanEnd.rngState(), resumedEnd.rngState());
    assertEquals(cleanEnd.valLoss(), resumedEnd.valLoss());
    assertEquals(cleanEnd.extra(), resumedEnd.extra());
  }

  @Test
  void resumingAFinishedShardTrainsNothing() throws Exception {
    RunConfig config = config();
    Path shardDir = root.resolve("s");
    TestTrainerContext first = TestTrainerContext.forShard(config, 0, 1, 0, SAMPLES, shardDir, null);
    new StubTrainer(config).train(first);

    TestTrainerContext again = TestTrainerContext.forShard(config, 0, 2, 0, SAMPLES, shardDir, first.lastCheckpoint().orElseThrow());
    ShardResult result = new StubTrainer(config).train(again);
    assertEquals(96, result.endStep());
    assertEquals(0, result.stepsTrained());
    assertFalse(result.stopped());
  }

  @Test
  void refusesACheckpointWrittenWithADifferentBatchSize() throws Exception {
    RunConfig config = config();
    Path shardDir = root.resolve("s");
    TestTrainerContext first = TestTrainerContext.forShard(config, 0, 1, 0, SAMPLES, shardDir, null);
    first.onStep(e -> {
      if (e.step() == 12) first.requestStop();
    });
    new StubTrainer(config).train(first);
    Path checkpoint = first.lastCheckpoint().orElseThrow();

    RunConfig other = config("batch-size=16");
    TestTrainerContext resumed = TestTrainerContext.forShard(other, 0, 2, 0, SAMPLES, shardDir, checkpoint);
    CheckpointException e = assertThrows(CheckpointException.class, () -> new StubTrainer(other).train(resumed));
    assertTrue(e.getMessage().contains(checkpoint.toString()) && e.getMessage().contains("steps per epoch"), e.getMessage());
  }

  @Test
  void refusesToResumeFromADirectoryWithoutManifest() {
    RunConfig config = config();
    Path missing = root.resolve("s").resolve("step-10");
    TestTrainerContext resumed = TestTrainerContext.forShard(config, 0, 2, 0, SAMPLES, root.resolve("s"), missing);
    CheckpointException e = assertThrows(CheckpointException.class, () -> new StubTrainer(config).train(resumed));
    assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("manifest.json"), e.getMessage());
  }

  @Test
  void checkpointCarriesTheNextStepAndTheRunningEpochSum() throws Exception {
    RunConfig config = config();
    TestTrainerContext context = TestTrainerContext.forShard(config, 0, 1, 0, SAMPLES, root.resolve("s"), null);
    context.onStep(e -> {
      if (e.step() == 41) context.requestStop();
    });
    new StubTrainer(config).train(context);
    CheckpointManifest at40 = CheckpointStore.load(context.lastCheckpoint().orElseThrow()).orElseThrow();
    assertEquals(40, at40.step());
    assertEquals(1, at40.epoch());
    assertEquals(8, at40.cursor());
    assertEquals(context.evals().get(0).valLoss(), (float) at40.valLoss());
    double sum = context.steps().subList(32, 40).stream().mapToDouble(StepEvent::loss).sum();
    assertEquals(sum, Double.parseDouble(at40.extra().get(StubTrainer.EXTRA_EPOCH_LOSS_SUM)), 1e-9);
    assertEquals(Map.of(StubTrainer.EXTRA_EPOCH_LOSS_SUM, at40.extra().get(StubTrainer.EXTRA_EPOCH_LOSS_SUM),
        StubTrainer.EXTRA_STEPS_PER_EPOCH, "32"), at40.extra());
  }
}
