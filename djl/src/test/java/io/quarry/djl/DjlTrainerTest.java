package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.worker.checkpoint.CheckpointStore;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.TestTrainerContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DjlTrainerTest {
  @TempDir Path dir;

  private static RunConfig config(String... overrides) {
    List<String> all = new java.util.ArrayList<>(List.of("trainer=djl", "dataset.synthetic=blobs", "model.type=mlp", "dataset.samples=1000", "batch-size=50",
        "epochs=3", "optimizer.lr=0.01", "seed=5", "checkpoint.every-steps=1000"));
    all.addAll(List.of(overrides));
    return RunConfig.fromOverrides(all, Map.of());
  }

  @Test
  void factoryIsRegistered() {
    boolean found = ServiceLoader.load(io.quarry.worker.trainer.TrainerFactory.class).stream()
        .anyMatch(p -> p.get().name().equals("djl"));
    assertTrue(found);
  }

  @Test
  void trainsOnSyntheticDataOffersPerSampleLossesAndCheckpoints() throws Exception {
    RunConfig config = config();
    // shard 1 of 2 of the 800 training samples: ids 400..799, 8 steps per epoch
    TestTrainerContext context = TestTrainerContext.forShard(config, 1, 1, 400, 400, dir.resolve("ckpt"), null);
    ShardResult result = new DjlTrainer(config).train(context);
    assertFalse(result.stopped());
    assertEquals(24, result.endStep());
    assertEquals(24, result.stepsTrained());
    assertEquals(1200, result.samplesTrained());

    List<TestTrainerContext.Offer> offers = context.offers();
    assertEquals(24, offers.size());
    PreparedData data = PreparedData.of(config);
    for (int s = 0; s < 24; s++) {
      TestTrainerContext.Offer offer = offers.get(s);
      for (int i = 0; i < offer.sampleIds().length; i++) {
        assertEquals(data.train().y()[(int) offer.sampleIds()[i]], offer.labels()[i], "the sample's own label");
        assertTrue(offer.predicted()[i] >= 0 && offer.predicted()[i] < data.classes());
      }
      assertEquals(s, offer.step());
      assertEquals(50, offer.sampleIds().length);
      for (long id : offer.sampleIds()) assertTrue(id >= 400 && id < 800, "sample id " + id);
      for (float loss : offer.losses()) assertTrue(loss >= 0 && Float.isFinite(loss));
      double mean = 0;
      for (float loss : offer.losses()) mean += loss;
      assertEquals(context.steps().get(s).loss(), mean / 50, 1e-4, "step loss is the mean of the offered losses");
    }
    // each epoch visits every sample of the shard once
    long[] epochIds = offers.subList(0, 8).stream().flatMapToLong(o -> Arrays.stream(o.sampleIds())).sorted().toArray();
    long[] expected = java.util.stream.LongStream.range(400, 800).toArray();
    assertArrayEquals(expected, epochIds);

    List<TestTrainerContext.StepEvent> steps = context.steps();
    assertEquals(24, steps.size());
    float firstLoss = steps.get(0).loss();
    float lastLoss = steps.get(23).loss();
    assertTrue(lastLoss < firstLoss * 0.5, "loss " + firstLoss + " -> " + lastLoss);
    assertEquals(3, context.epochs().size());
    List<TestTrainerContext.EvalEvent> evals = context.evals();
    assertEquals(3, evals.size());
    assertTrue(evals.get(2).valLoss() < evals.get(0).valLoss(), evals.toString());
    assertTrue(evals.get(2).valAccuracy() > 0.8, evals.toString());

    // an accurate model predicts most of the last epoch's labels
    long right = 0;
    long seen = 0;
    for (TestTrainerContext.Offer offer : offers.subList(16, 24)) {
      for (int i = 0; i < offer.labels().length; i++, seen++) if (offer.labels()[i] == offer.predicted()[i]) right++;
    }
    assertTrue(right > 0.8 * seen, right + " of " + seen);
    // tabular payloads: the leading raw features of the sample
    io.quarry.worker.trainer.Payload payload = context.payloadRenderer().orElseThrow().render(401);
    assertTrue(payload instanceof io.quarry.worker.trainer.Payload.Features f && f.values().length == data.features(),
        String.valueOf(payload));

    assertEquals(3, context.checkpoints().size()); // epoch ends
    Path last = context.lastCheckpoint().orElseThrow();
    assertTrue(Files.isRegularFile(last.resolve(DjlTrainer.PARAMS_FILE)));
    assertEquals(DjlTrainer.PARAMS_FILE, CheckpointStore.load(last).orElseThrow().extra().get(DjlTrainer.EXTRA_PARAMS));
  }

  @Test
  void stopsWithinOneStepAndResumesFromTheCheckpoint() throws Exception {
    RunConfig config = config("checkpoint.every-steps=4", "optimizer.type=sgd", "optimizer.lr=0.1");
    TestTrainerContext first = TestTrainerContext.forShard(config, 0, 1, 0, 800, dir.resolve("a1"), null);
    first.onStep(e -> {
      if (e.step() == 9) first.requestStop();
    });
    ShardResult stopped = new DjlTrainer(config).train(first);
    assertTrue(stopped.stopped());
    assertEquals(10, stopped.endStep());
    Path checkpoint = first.lastCheckpoint().orElseThrow();
    assertEquals(8, first.checkpoints().get(first.checkpoints().size() - 1).step());

    TestTrainerContext second = TestTrainerContext.forShard(config, 0, 2, 0, 800, dir.resolve("a2"), checkpoint);
    ShardResult done = new DjlTrainer(config).train(second);
    assertFalse(done.stopped());
    assertEquals(48, done.endStep());
    assertEquals(40, done.stepsTrained());
    assertEquals(8, second.steps().get(0).step());
    // plain SGD keeps no optimizer state and the epoch order is seeded, so the resumed step 8 repeats the first attempt's
    assertEquals(first.steps().get(8).loss(), second.steps().get(0).loss(), 1e-5,
        first.steps() + " vs resumed " + second.steps());
  }

  @Test
  void twoTrainersInOneJvmTakeTurns() throws Exception {
    RunConfig config = config("epochs=1");
    TestTrainerContext a = TestTrainerContext.forShard(config, 0, 1, 0, 400, dir.resolve("p0"), null);
    TestTrainerContext b = TestTrainerContext.forShard(config, 1, 1, 400, 400, dir.resolve("p1"), null);
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
    try {
      var fa = pool.submit(() -> new DjlTrainer(config).train(a));
      var fb = pool.submit(() -> new DjlTrainer(config).train(b));
      assertEquals(8, fa.get().endStep());
      assertEquals(8, fb.get().endStep());
    } finally {
      pool.shutdownNow();
    }
  }

  private static float[] savedParameters(RunConfig config, Path checkpoint) throws Exception {
    return DjlTrainer.savedParameters(config, checkpoint);
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {
      "optimizer.type=sgd", "optimizer.type=sgd optimizer.momentum=0.9 optimizer.weight-decay=0.001",
      "optimizer.type=adam", "optimizer.type=adamw optimizer.weight-decay=0.01"})
  void anInterruptedAndResumedShardEndsWithTheSameParametersAsAnUninterruptedOne(String optimizer) throws Exception {
    List<String> overrides = new java.util.ArrayList<>(List.of(optimizer.split(" ")));
    overrides.addAll(List.of("checkpoint.every-steps=4", "optimizer.schedule=cosine", "optimizer.warmup-steps=3",
        "epochs=2", "model.hidden=[32,16]"));
    RunConfig config = config(overrides.toArray(String[]::new));
    TestTrainerContext whole = TestTrainerContext.forShard(config, 0, 1, 0, 400, dir.resolve("whole"), null);
    new DjlTrainer(config).train(whole);

    TestTrainerContext first = TestTrainerContext.forShard(config, 0, 1, 0, 400, dir.resolve("first"), null);
    first.onStep(e -> {
      if (e.step() == 9) first.requestStop();
    });
    assertTrue(new DjlTrainer(config).train(first).stopped());
    TestTrainerContext second =
        TestTrainerContext.forShard(config, 0, 2, 0, 400, dir.resolve("second"), first.lastCheckpoint().orElseThrow());
    ShardResult done = new DjlTrainer(config).train(second);
    assertEquals(16, done.endStep());
    assertEquals(8, done.stepsTrained());

    float[] expected = savedParameters(config, whole.lastCheckpoint().orElseThrow());
    float[] actual = savedParameters(config, second.lastCheckpoint().orElseThrow());
    assertEquals(16 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10, expected.length);
    // The same operations on the same values: bit for bit, with every optimizer (its state is in the checkpoint).
    assertArrayEquals(expected, actual, optimizer);
    float[] initial = savedParameters(config, first.checkpoints().get(0).path());
    assertFalse(Arrays.equals(initial, expected), "training changed the parameters");
  }

  @Test
  void aCorruptOptimizerStateFailsTheResumeNamingTheFile() throws Exception {
    RunConfig config = config("epochs=1", "optimizer.type=adam");
    TestTrainerContext first = TestTrainerContext.forShard(config, 0, 1, 0, 400, dir.resolve("c1"), null);
    new DjlTrainer(config).train(first);
    Path checkpoint = first.lastCheckpoint().orElseThrow();
    Files.write(checkpoint.resolve(DjlTrainer.OPTIMIZER_FILE), new byte[] {1, 2, 3});
    TestTrainerContext second = TestTrainerContext.forShard(config, 0, 2, 0, 400, dir.resolve("c2"), checkpoint);
    Exception e = assertThrows(Exception.class, () -> new DjlTrainer(config).train(second));
    assertTrue(e.getMessage().contains(DjlTrainer.OPTIMIZER_FILE), e.getMessage());

    RunConfig sgd = config("epochs=1", "optimizer.type=sgd");
    TestTrainerContext other = TestTrainerContext.forShard(sgd, 0, 2, 0, 400, dir.resolve("c3"), checkpoint);
    Files.delete(checkpoint.resolve(DjlTrainer.OPTIMIZER_FILE));
    Exception missing = assertThrows(Exception.class, () -> new DjlTrainer(sgd).train(other));
    assertTrue(missing.getMessage().contains("djl.optimizer"), missing.getMessage());
  }

  @Test
  void aGpuThatLibtorchDoesNotSeeIsAClearError() {
    assertEquals(ai.djl.Device.cpu(), DjlTrainer.device("cpu"));
    int visible = ai.djl.engine.Engine.getEngine("PyTorch").getGpuCount();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> DjlTrainer.device("gpu:" + visible));
    assertTrue(e.getMessage().contains("PYTORCH_LIBRARY_PATH"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> DjlTrainer.device("tpu:0"));
  }

  @Test
  void aCnnLearnsTheSyntheticShapes() throws Exception {
    RunConfig config = RunConfig.fromOverrides(List.of("trainer=djl", "dataset.synthetic=shapes", "model.type=cnn",
        "model.channels=[8,16]", "model.hidden=[32]", "dataset.samples=2000", "batch-size=32", "epochs=3",
        "optimizer.type=adam", "optimizer.lr=0.003", "seed=11", "checkpoint.every-steps=1000"), Map.of());
    PreparedData data = PreparedData.of(config);
    assertTrue(data.images());
    TestTrainerContext context =
        TestTrainerContext.forShard(config, 0, 1, 0, data.train().rows(), dir.resolve("cnn"), null).withoutOffers();
    ShardResult result = new DjlTrainer(config).train(context);
    List<TestTrainerContext.EvalEvent> evals = context.evals();
    assertEquals(3, evals.size());
    System.out.println("cnn on shapes: " + evals);
    assertTrue(evals.get(2).valAccuracy() >= 0.8, evals.toString());
    assertEquals(evals.get(2).valAccuracy(), result.valAccuracy());
    assertEquals(evals.get(2).valLoss(), result.valLoss());
    // image payloads: a PNG thumbnail of the sample
    io.quarry.worker.trainer.Payload payload = context.payloadRenderer().orElseThrow().render(7);
    assertTrue(payload instanceof io.quarry.worker.trainer.Payload.Image, String.valueOf(payload));
    java.awt.image.BufferedImage thumbnail = javax.imageio.ImageIO.read(
        new java.io.ByteArrayInputStream(((io.quarry.worker.trainer.Payload.Image) payload).png()));
    assertEquals(28, thumbnail.getWidth());
    assertEquals(28, thumbnail.getHeight());
    // conv 1->8 (3x3), conv 8->16, dense 16*7*7 -> 32, dense 32 -> 10: the checkpoint holds exactly these
    float[] saved = savedParameters(config, context.lastCheckpoint().orElseThrow());
    assertEquals(8 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 7 * 7 * 32 + 32 + 32 * 10 + 10, saved.length);
  }

  @Test
  void aCnnOnTabularDataIsRefusedWithTheConfig() {
    Exception e = assertThrows(io.quarry.config.RunConfigException.class, () -> RunConfig.fromOverrides(
        List.of("trainer=djl", "dataset.synthetic=blobs", "model.type=cnn"), Map.of()));
    assertTrue(e.getMessage().contains("model.type") && e.getMessage().contains("cnn needs images"), e.getMessage());
    // Only runs of the djl trainer: a stub run does not care what model the djl section names.
    RunConfig.fromOverrides(List.of("trainer=stub", "dataset.synthetic=blobs", "model.type=cnn"), Map.of());
  }
}
