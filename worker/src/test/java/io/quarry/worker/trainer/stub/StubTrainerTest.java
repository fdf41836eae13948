package io.quarry.worker.trainer.stub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.TestTrainerContext.Offer;
import io.quarry.worker.trainer.TestTrainerContext.StepEvent;
import io.quarry.worker.trainer.TestTrainerContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StubTrainerTest {
  @TempDir Path root;

  static RunConfig config(String... overrides) {
    List<String> all = new ArrayList<>(List.of("stub.step-time=0", "epochs=3", "batch-size=32", "checkpoint.every-steps=10"));
    all.addAll(List.of(overrides));
    return RunConfig.fromOverrides(all, Map.of());
  }

  private TestTrainerContext run(RunConfig config, long firstSample, long sampleCount, String dir) throws Exception {
    TestTrainerContext context = TestTrainerContext.forShard(config, 0, 1, firstSample, sampleCount, root.resolve(dir), null);
    ShardResult result = new StubTrainer(config).train(context);
    long steps = StubTrainer.stepsPerEpoch(sampleCount, config.batchSize) * config.epochs;
    assertEquals(steps, result.endStep());
    assertEquals(steps, result.stepsTrained());
    assertEquals(sampleCount * config.epochs, result.samplesTrained());
    assertFalse(result.stopped());
    if (config.telemetry.everySteps() == 1) assertEquals(context.steps().get((int) steps - 1).loss(), result.finalLoss());
    return context;
  }

  private static List<String> lossAndLr(TestTrainerContext context) {
    return context.steps().stream().map(e -> e.step() + ":" + e.loss() + ":" + e.lr()).toList();
  }

  @Test
  void sameSeedAndConfigGiveIdenticalStepsEvalsAndOffers() throws Exception {
    TestTrainerContext first = run(config(), 0, 1000, "a");
    TestTrainerContext second = run(config(), 0, 1000, "b");

    assertEquals(96, first.steps().size());
    assertEquals(lossAndLr(first), lossAndLr(second));
    assertEquals(first.evals(), second.evals());
    assertEquals(first.epochs(), second.epochs());
    List<Offer> a = first.offers();
    List<Offer> b = second.offers();
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      assertArrayEquals(a.get(i).sampleIds(), b.get(i).sampleIds());
      assertArrayEquals(a.get(i).losses(), b.get(i).losses());
    }
  }

  @Test
  void differentSeedGivesDifferentLossesAndEvals() throws Exception {
    TestTrainerContext seed42 = run(config("seed=42"), 0, 1000, "a");
    TestTrainerContext seed43 = run(config("seed=43"), 0, 1000, "b");

    assertNotEquals(lossAndLr(seed42), lossAndLr(seed43));
    assertNotEquals(seed42.evals(), seed43.evals());
  }

  @Test
  void aboutTwelvePercentOfSamplesArePlantedHard() {
    int planted = 0;
    for (long id = 0; id < 10_000; id++) if (StubTrainer.isPlantedHard(id, 42, 0.12)) planted++;
    assertTrue(Math.abs(planted / 10_000.0 - 0.12) < 0.015, "planted fraction " + planted / 10_000.0);
    for (long id = 0; id < 1000; id++) {
      assertFalse(StubTrainer.isPlantedHard(id, 42, 0.0));
      assertTrue(StubTrainer.isPlantedHard(id, 42, 1.0));
    }
  }

  @Test
  void plantedSamplesAreHardInEveryEpochAndTheOthersShrinkWithProgress() throws Exception {
    RunConfig config = config();
    long first = 5000;
    long count = 2000;
    TestTrainerContext context = run(config, first, count, "a");
    List<Offer> offers = context.offers();
    long stepsPerEpoch = StubTrainer.stepsPerEpoch(count, 32);
    List<Set<Long>> hardByEpoch = new ArrayList<>();
    double[] easySum = new double[3];
    int[] easyCount = new int[3];
    for (int epoch = 0; epoch < 3; epoch++) hardByEpoch.add(new HashSet<>());

    for (Offer offer : offers) {
      int epoch = (int) (offer.step() / stepsPerEpoch);
      for (int i = 0; i < offer.sampleIds().length; i++) {
        long id = offer.sampleIds()[i];
        float loss = offer.losses()[i];
        assertTrue(id >= first && id < first + count, "sample " + id + " is outside the shard");
        if (StubTrainer.isPlantedHard(id, config.seed, 0.12)) {
          assertTrue(loss >= 3.0f && loss < 10.0f, "planted loss " + loss);
          hardByEpoch.get(epoch).add(id);
        } else {
          assertTrue(loss > 0.0f && loss < 2.0f, "easy loss " + loss);
          if (offer.step() == 0) assertTrue(loss >= 0.5f, "easy loss at step 0 " + loss);
          easySum[epoch] += loss;
          easyCount[epoch]++;
        }
      }
    }
    assertEquals(hardByEpoch.get(0), hardByEpoch.get(1));
    assertEquals(hardByEpoch.get(0), hardByEpoch.get(2));
    double fraction = hardByEpoch.get(0).size() / (double) count;
    assertTrue(Math.abs(fraction - 0.12) < 0.03, "planted fraction in the shard " + fraction);
    double[] easyMean = {easySum[0] / easyCount[0], easySum[1] / easyCount[1], easySum[2] / easyCount[2]};
    assertTrue(easyMean[0] > easyMean[1] && easyMean[1] > easyMean[2], "easy losses shrink: " + List.of(easyMean[0], easyMean[1], easyMean[2]));
  }

  @Test
  void everyEpochVisitsEverySampleOnceInADifferentOrder() throws Exception {
    long count = 1000;
    TestTrainerContext context = run(config(), 0, count, "a");
    long stepsPerEpoch = StubTrainer.stepsPerEpoch(count, 32);
    List<BitSet> seen = List.of(new BitSet(), new BitSet(), new BitSet());
    List<List<Long>> order = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
    for (Offer offer : context.offers()) {
      int epoch = (int) (offer.step() / stepsPerEpoch);
      for (long id : offer.sampleIds()) {
        assertFalse(seen.get(epoch).get((int) id), "sample " + id + " twice in epoch " + epoch);
        seen.get(epoch).set((int) id);
        order.get(epoch).add(id);
      }
    }
    for (BitSet epoch : seen) assertEquals(count, epoch.cardinality());
    assertNotEquals(order.get(0), order.get(1));
    assertEquals(8, context.offers().get((int) stepsPerEpoch - 1).sampleIds().length, "the last batch holds the remainder");
  }

  @Test
  void meanLossDecaysWithNoiseAndLearningRateFollowsACosine() throws Exception {
    RunConfig config = config("optimizer.lr=0.1");
    TestTrainerContext context = run(config, 0, 1000, "a");
    List<StepEvent> steps = context.steps();
    double firstEpoch = steps.subList(0, 32).stream().mapToDouble(StepEvent::loss).average().orElseThrow();
    double lastEpoch = steps.subList(64, 96).stream().mapToDouble(StepEvent::loss).average().orElseThrow();
    assertTrue(firstEpoch > lastEpoch, firstEpoch + " > " + lastEpoch);
    assertTrue(context.epochs().get(0).meanLoss() > context.epochs().get(2).meanLoss());
    int rises = 0;
    for (int i = 1; i < steps.size(); i++) if (steps.get(i).loss() > steps.get(i - 1).loss()) rises++;
    assertTrue(rises > 10, "the loss is noisy, not monotone: " + rises + " rises");

    assertEquals(0.1f, steps.get(0).lr(), 1e-7);
    assertEquals(0.05f, steps.get(48).lr(), 1e-6, "half way down the cosine");
    for (int i = 1; i < steps.size(); i++) assertTrue(steps.get(i).lr() < steps.get(i - 1).lr());

    assertEquals(3, context.evals().size());
    assertTrue(context.evals().get(0).valLoss() > context.evals().get(2).valLoss());
    assertTrue(context.evals().get(0).valAccuracy() < context.evals().get(2).valAccuracy());
    assertEquals(List.of(31L, 63L, 95L), context.evals().stream().map(e -> e.step()).toList());
  }

  @Test
  void checkpointsEveryIntervalAndAtEachEpochEnd() throws Exception {
    TestTrainerContext context = run(config(), 0, 1000, "a");
    List<Long> steps = context.checkpoints().stream().map(TestTrainerContext.Checkpoint::step).toList();
    assertEquals(List.of(10L, 20L, 30L, 32L, 40L, 50L, 60L, 64L, 70L, 80L, 90L, 96L), steps);
    for (TestTrainerContext.Checkpoint checkpoint : context.checkpoints()) {
      assertEquals(root.resolve("a").resolve("step-" + checkpoint.step()), checkpoint.path());
    }
    var last = io.quarry.worker.checkpoint.CheckpointStore.load(context.lastCheckpoint().orElseThrow()).orElseThrow();
    assertEquals(96, last.step());
    assertEquals(3, last.epoch());
    assertEquals(0, last.cursor());
    assertEquals(context.evals().get(2).valLoss(), (float) last.valLoss());
    assertEquals("stub", last.trainer());
  }

  @Test
  void telemetryEverySteps() throws Exception {
    TestTrainerContext context = run(config("telemetry.every-steps=5"), 0, 1000, "a");
    assertEquals(List.of(0L, 5L, 10L), context.steps().stream().limit(3).map(StepEvent::step).toList());
    assertEquals(20, context.steps().size());
  }

  @Test
  void stopRequestedBeforeTheFirstStepTrainsNothing() throws Exception {
    RunConfig config = config();
    TestTrainerContext context = TestTrainerContext.forShard(config, 0, 1, 0, 1000, root.resolve("a"), null);
    context.requestStop();
    ShardResult result = new StubTrainer(config).train(context);
    assertTrue(result.stopped());
    assertEquals(0, result.endStep());
    assertTrue(Float.isNaN(result.finalLoss()));
    assertTrue(context.offers().isEmpty());
  }

  @Test
  void trainsAHugeShardWithoutMaterializingItsOrder() throws Exception {
    RunConfig config = config("stub.samples=1099511627776");
    long count = 1L << 40;
    TestTrainerContext context = TestTrainerContext.forShard(config, 3, 1, 0, count, root.resolve("a"), null);
    context.onStep(e -> {
      if (e.step() == 4) context.requestStop();
    });
    ShardResult result = new StubTrainer(config).train(context);
    assertEquals(5, result.endStep());
    assertTrue(result.stopped());
    for (Offer offer : context.offers()) for (long id : offer.sampleIds()) assertTrue(id >= 0 && id < count);
  }
}
