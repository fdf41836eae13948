package io.quarry.deploy;

import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.TrainerSpec;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerContext;
import io.quarry.worker.trainer.TrainerFactory;
import io.quarry.worker.trainer.stub.StubSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A test trainer ({@code trainer = linear-sgd}): deterministic plain SGD on a linear regression in pure Java, so that
 * parameter averaging can be checked exactly. Sample {@code i} of the run's {@code stub.samples} is drawn from the
 * seed and {@code i} alone; a shard's steps take its samples in order, {@code batch-size} at a time; the parameters
 * start at 0. With {@code sync.mode = average} it averages after every {@code sync.every} steps (and after its last),
 * as a real trainer does; with {@code sync.mode = allreduce} it averages its gradients with the other shards' every
 * step before it updates, and trains a step again when the round aborted. It writes its final parameters to {@code params.txt} in its checkpoint directory, one float
 * per line. It honours {@code stub.step-time} and hangs (until stopped) at {@code stub.hang-at-step} on
 * {@code stub.fault-shards}, on the first {@code stub.fail-attempts} attempts.
 */
final class LinearSgdTrainer implements Trainer {
  static final int FEATURES = 8;
  static final String PARAMS_FILE = "params.txt";

  /** Registered in this module's test resources under META-INF/services. */
  public static final class Factory implements TrainerFactory {
    @Override
    public String name() {
      return "linear-sgd";
    }

    @Override
    public Trainer create(RunConfig config) {
      return new LinearSgdTrainer();
    }
  }
  /** Its run-config section: no keys of its own (it reads the stub's {@code stub.*}); sized by {@code stub.samples}. */
  public static final class Spec implements TrainerSpec {
    @Override
    public String name() {
      return "linear-sgd";
    }

    @Override
    public String description() {
      return "test only: plain SGD on a linear regression in pure Java, averaging its parameters every step";
    }

    @Override
    public List<ConfigKey> keys() {
      return List.of();
    }

    @Override
    public long samples(RunConfig config) {
      return config.raw().getLong("stub.samples");
    }
  }


  /** Sample {@code id}'s features (the first {@link #FEATURES}) and target (the last), from the seed alone. */
  static double[] sample(long seed, long id) {
    Random random = new Random(seed * 1_000_003L + id);
    double[] sample = new double[FEATURES + 1];
    double target = 0.5;
    for (int f = 0; f < FEATURES; f++) {
      sample[f] = random.nextGaussian();
      target += (f - 3.5) * 0.4 * sample[f];
    }
    sample[FEATURES] = target + 0.1 * random.nextGaussian();
    return sample;
  }

  @Override
  public ShardResult train(TrainerContext context) throws Exception {
    RunConfig config = context.config();
    ShardAssignment shard = context.assignment();
    StubSettings stub = StubSettings.of(config);
    int batchSize = config.batchSize;
    long stepsPerEpoch = (shard.sampleCount() + batchSize - 1) / batchSize;
    long totalSteps = stepsPerEpoch * config.epochs;
    boolean faulty = stub.faultsApplyTo(shard.shard())
        && (stub.failAttempts() == 0 || shard.attempt() <= stub.failAttempts());
    long every = config.sync.every();
    float lr = (float) config.learningRate;

    float[] params = new float[FEATURES + 1];
    int aborted = 0;
    float loss = Float.NaN;
    long samples = 0;
    for (long step = 0; step < totalSteps; step++) {
      if (context.stopRequested()) return new ShardResult(step, step, samples, loss, true);
      if (faulty && step == stub.hangAtStep()) {
        while (!context.stopRequested()) Thread.sleep(10);
        return new ShardResult(step, step, samples, loss, true);
      }
      if (!stub.stepTime().isZero()) Thread.sleep(stub.stepTime().toMillis());
      long from = shard.firstSample() + (step % stepsPerEpoch) * batchSize;
      long to = Math.min(shard.firstSample() + shard.sampleCount(), from + batchSize);
      double[] gradient = new double[FEATURES + 1];
      double squaredError = 0;
      for (long id = from; id < to; id++) {
        double[] sample = sample(config.seed, id);
        double error = params[FEATURES] - sample[FEATURES];
        for (int f = 0; f < FEATURES; f++) error += params[f] * sample[f];
        for (int f = 0; f < FEATURES; f++) gradient[f] += 2 * error * sample[f];
        gradient[FEATURES] += 2 * error;
        squaredError += error * error;
      }
      long count = to - from;
      float[] mean = new float[FEATURES + 1];
      for (int p = 0; p <= FEATURES; p++) mean[p] = (float) (gradient[p] / count);
      if (config.sync.allReduce()) {
        float[] current = params;
        io.quarry.worker.trainer.GradientRound round = context.allReduceGradients(step, mean, () -> current.clone());
        if (round.parameters() != null) params = round.parameters();
        if (!round.step()) {
          if (++aborted > 50) throw new IllegalStateException("50 all-reduce rounds in a row aborted");
          step--; // the same batch again, on the next ring
          continue;
        }
        aborted = 0;
      }
      for (int p = 0; p <= FEATURES; p++) params[p] -= lr * mean[p];
      loss = (float) (squaredError / count);
      samples += count;
      context.telemetry().step(step, (int) (step / stepsPerEpoch), loss, lr, 0f);
      long done = step + 1;
      if (done % every == 0) {
        params = context.averageParameters(done / every, params);
      } else if (done == totalSteps) {
        params = context.averageParameters(done / every + 1, params);
      }
    }
    writeParams(context.checkpointDir(), params);
    return new ShardResult(totalSteps, totalSteps, samples, loss, false);
  }

  private static void writeParams(Path dir, float[] params) throws IOException {
    Files.createDirectories(dir);
    List<String> lines = new ArrayList<>();
    for (float p : params) lines.add(Float.toString(p));
    Files.write(dir.resolve(PARAMS_FILE), lines);
  }

  /** The final parameters a shard attempt wrote. */
  static float[] readParams(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file);
    float[] params = new float[lines.size()];
    for (int i = 0; i < params.length; i++) params[i] = Float.parseFloat(lines.get(i));
    return params;
  }
}
