package io.quarry.worker.trainer.stub;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.checkpoint.CheckpointException;
import io.quarry.worker.checkpoint.CheckpointManifest;
import io.quarry.worker.checkpoint.CheckpointStore;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.telemetry.TelemetryEmitter;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerContext;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The deterministic simulated trainer ({@code trainer = stub}): no model, but the shape of real training.
 *
 * <p>A shard of {@code n} samples takes {@code ceil(n / batch-size)} steps per epoch. Each epoch visits the
 * samples in a seeded order ({@link EpochOrder}); each step computes per-sample losses
 * ({@link StubLossModel}), hands them to the hard-example sink, and reports a mean loss (decaying, with
 * noise) and a cosine-decayed learning rate. Each epoch ends with a fake evaluation. Checkpoints are written
 * every {@code checkpoint.every-steps} steps and at each epoch end; a shard resumed from one reproduces the
 * uninterrupted shard's losses, learning rates and evaluations exactly.
 *
 * <p>{@code stub.step-time} paces the steps against deadlines measured from the attempt's start, so the
 * pace does not drift; waits are sliced so a stop is honoured within {@value #POLL_MS} ms. The faults in
 * {@code stub.*} (fail, hang, slow) apply to {@code stub.fault-shards}.
 */
public final class StubTrainer implements Trainer {
  /** The {@code trainer} key value that selects this trainer. */
  public static final String NAME = "stub";
  /** How often a wait (pacing, a hang) looks at the stop flag. */
  static final long POLL_MS = 10;

  static final String EXTRA_EPOCH_LOSS_SUM = "stub.epoch-loss-sum";
  static final String EXTRA_STEPS_PER_EPOCH = "stub.steps-per-epoch";

  private static final long POLL_NS = TimeUnit.MILLISECONDS.toNanos(POLL_MS);
  private static final long SLOW_BASE_NS = TimeUnit.MILLISECONDS.toNanos(1);
  private static final long RNG_SALT = 0x57AB_5EEDL;

  private final RunConfig config;
  private final StubSettings stub;

  public StubTrainer(RunConfig config) {
    this.config = config;
    this.stub = StubSettings.of(config);
  }

  /** True when {@code sampleId} is planted hard in a run with {@code seed}; see {@link StubLossModel}. */
  public static boolean isPlantedHard(long sampleId, long seed, double hardFraction) {
    return StubLossModel.isPlantedHard(sampleId, seed, hardFraction);
  }

  /** Steps in one epoch of a shard of {@code sampleCount} samples. */
  public static long stepsPerEpoch(long sampleCount, int batchSize) {
    return (sampleCount + batchSize - 1) / batchSize;
  }

  /**
   * How long each step of {@code shard} takes: {@code stub.step-time}, times {@code stub.slow-factor} when
   * the faults apply to the shard (with a 1 ms base when the step time is 0).
   */
  public static long stepDelayNs(RunConfig config, int shard) {
    return stepDelayNs(config, shard, 1);
  }

  /**
   * How long each step of {@code attempt} of {@code shard} takes; with {@code stub.slow-attempts = N > 0} only the
   * first N attempts are slow, which makes a straggler that a speculative copy can overtake.
   */
  public static long stepDelayNs(RunConfig config, int shard, int attempt) {
    StubSettings stub = StubSettings.of(config);
    long baseNs = stub.stepTime().toNanos();
    int slowAttempts = stub.slowAttempts();
    boolean slow = stub.faultsApplyTo(shard) && (slowAttempts == 0 || attempt <= slowAttempts);
    double slowFactor = slow ? stub.slowFactor() : 1.0;
    if (slowFactor == 1.0) return baseNs;
    return Math.round((baseNs == 0 ? SLOW_BASE_NS : baseNs) * slowFactor);
  }

  /** Where a shard attempt starts: step 0, or a checkpoint. */
  private record Start(long step, long rngState, double valLoss, double epochLossSum) {}

  @Override
  public ShardResult train(TrainerContext context) throws Exception {
    ShardAssignment assignment = context.assignment();
    int shard = assignment.shard();
    long sampleCount = assignment.sampleCount();
    if (sampleCount < 1) throw new IllegalArgumentException("shard " + shard + " has no samples (sampleCount " + sampleCount + ")");
    int batchSize = config.batchSize;
    long seed = config.seed;
    double hardFraction = stub.hardFraction();
    long stepsPerEpoch = stepsPerEpoch(sampleCount, batchSize);
    long totalSteps = stepsPerEpoch * config.epochs;
    int telemetryEverySteps = config.telemetry.everySteps();
    int checkpointEverySteps = config.checkpointEverySteps;

    boolean faulty = stub.faultsApplyTo(shard);
    int failAttempts = stub.failAttempts();
    long failAtStep = faulty && (failAttempts == 0 || assignment.attempt() <= failAttempts) ? stub.failAtStep() : -1;
    long hangAtStep = faulty ? stub.hangAtStep() : -1;
    long nonFiniteAtStep = faulty ? stub.nonFiniteAtStep() : -1;
    long stepDelayNs = stepDelayNs(config, shard, assignment.attempt());

    HardExampleSink hardExamples = context.hardExamples();
    TelemetryEmitter telemetry = context.telemetry();
    CheckpointStore store = context.checkpointStore();
    Start start = context.resumeFrom().isPresent()
        ? resume(context.resumeFrom().get(), shard, stepsPerEpoch, totalSteps)
        : new Start(0, SplitMix64.hash(seed ^ RNG_SALT, shard), Double.NaN, 0.0);

    SplitMix64 rng = new SplitMix64(start.rngState());
    double lastValLoss = start.valLoss();
    double epochLossSum = start.epochLossSum();
    // Reused every step: the hot loop allocates nothing (one small EpochOrder per epoch).
    int batchCapacity = (int) Math.min(batchSize, sampleCount);
    long[] sampleIds = new long[batchCapacity];
    float[] losses = new float[batchCapacity];
    EpochOrder order = null;
    int orderEpoch = -1;

    long step = start.step();
    long stepsTrained = 0;
    long samplesTrained = 0;
    float finalLoss = Float.NaN;
    long attemptStartNs = System.nanoTime();
    long lastEmitNs = attemptStartNs;
    long samplesSinceEmit = 0;

    while (step < totalSteps) {
      if (context.stopRequested()) return new ShardResult(step, stepsTrained, samplesTrained, finalLoss, true);
      if (step == failAtStep) throw injectedFailure(shard, step, assignment.attempt(), failAttempts);
      if (step == hangAtStep) {
        hangUntilStopped(context, shard, step);
        return new ShardResult(step, stepsTrained, samplesTrained, finalLoss, true);
      }
      if (stepDelayNs > 0 && !awaitDeadline(attemptStartNs + (stepsTrained + 1) * stepDelayNs, context, step)) {
        return new ShardResult(step, stepsTrained, samplesTrained, finalLoss, true);
      }

      int epoch = (int) (step / stepsPerEpoch);
      long cursor = step % stepsPerEpoch;
      if (epoch != orderEpoch) {
        order = new EpochOrder(seed, shard, epoch, sampleCount);
        orderEpoch = epoch;
      }
      long firstPosition = cursor * batchSize;
      int count = (int) Math.min(batchSize, sampleCount - firstPosition);
      order.fill(firstPosition, count, sampleIds, assignment.firstSample());
      double progress = (double) step / totalSteps;
      double lossSum = 0;
      for (int i = 0; i < count; i++) {
        float loss = nonFiniteAtStep >= 0 && step >= nonFiniteAtStep ? Float.NaN
            : StubLossModel.sampleLoss(sampleIds[i], seed, epoch, progress, hardFraction);
        losses[i] = loss;
        lossSum += loss;
      }
      float stepLoss = (float) (lossSum / count + StubLossModel.STEP_NOISE * rng.nextSigned());
      hardExamples.offer(sampleIds, losses, count, step);

      stepsTrained++;
      samplesTrained += count;
      samplesSinceEmit += count;
      finalLoss = stepLoss;
      epochLossSum += stepLoss;

      if (step % telemetryEverySteps == 0) {
        long now = System.nanoTime();
        float samplesPerSec = now > lastEmitNs ? (float) (samplesSinceEmit * 1e9 / (now - lastEmitNs)) : 0f;
        telemetry.step(step, epoch, stepLoss, StubLossModel.learningRate(config.learningRate, step, totalSteps),
            samplesPerSec);
        lastEmitNs = now;
        samplesSinceEmit = 0;
      }

      long next = step + 1;
      boolean epochEnd = next % stepsPerEpoch == 0;
      if (epochEnd) {
        telemetry.epoch(step, epoch, (float) (epochLossSum / stepsPerEpoch));
        double evalProgress = (double) next / totalSteps;
        float valLoss = StubLossModel.valLoss(evalProgress, hardFraction, rng);
        float valAccuracy = StubLossModel.valAccuracy(evalProgress, hardFraction, rng);
        telemetry.eval(step, epoch, valLoss, valAccuracy);
        lastValLoss = valLoss;
        epochLossSum = 0;
      }
      if (epochEnd || next % checkpointEverySteps == 0) {
        CheckpointManifest manifest = new CheckpointManifest(next, (int) (next / stepsPerEpoch), next % stepsPerEpoch,
            rng.state(), lastValLoss, NAME, System.currentTimeMillis(),
            Map.of(EXTRA_EPOCH_LOSS_SUM, Double.toString(epochLossSum),
                EXTRA_STEPS_PER_EPOCH, Long.toString(stepsPerEpoch)));
        Path saved = store.save(manifest, CheckpointStore.FileWriter.NONE);
        context.checkpointSaved(next, saved);
      }
      step = next;
    }
    return new ShardResult(step, stepsTrained, samplesTrained, finalLoss, false);
  }

  private Start resume(Path checkpoint, int shard, long stepsPerEpoch, long totalSteps) {
    CheckpointManifest manifest = CheckpointStore.load(checkpoint).orElseThrow(() -> new CheckpointException(
        "cannot resume shard " + shard + " from " + checkpoint + ": it has no " + CheckpointStore.MANIFEST
            + " (missing, or its save was interrupted)"));
    String where = "cannot resume shard " + shard + " from " + checkpoint.resolve(CheckpointStore.MANIFEST) + ": ";
    if (!NAME.equals(manifest.trainer())) {
      throw new CheckpointException(where + "it was written by trainer '" + manifest.trainer() + "', not '" + NAME + "'");
    }
    String writtenStepsPerEpoch = manifest.extra().get(EXTRA_STEPS_PER_EPOCH);
    if (writtenStepsPerEpoch != null && !writtenStepsPerEpoch.equals(Long.toString(stepsPerEpoch))) {
      throw new CheckpointException(where + "it was written with " + writtenStepsPerEpoch + " steps per epoch, this run has "
          + stepsPerEpoch + " (batch-size or the shard's samples changed)");
    }
    long step = manifest.step();
    if (step > totalSteps || manifest.epoch() != step / stepsPerEpoch || manifest.cursor() != step % stepsPerEpoch) {
      throw new CheckpointException(where + "step " + step + " (epoch " + manifest.epoch() + ", cursor " + manifest.cursor()
          + ") does not fit this run's shard of " + totalSteps + " steps, " + stepsPerEpoch + " per epoch");
    }
    double epochLossSum = 0.0;
    String sum = manifest.extra().get(EXTRA_EPOCH_LOSS_SUM);
    if (sum != null) {
      try {
        epochLossSum = Double.parseDouble(sum);
      } catch (NumberFormatException e) {
        throw new CheckpointException(where + "extra." + EXTRA_EPOCH_LOSS_SUM + " is not a number: '" + sum + "'");
      }
    } else if (manifest.cursor() != 0) {
      throw new CheckpointException(where + "extra." + EXTRA_EPOCH_LOSS_SUM + " is missing mid-epoch");
    }
    return new Start(step, manifest.rngState(), manifest.valLoss(), epochLossSum);
  }

  private static StubFaultException injectedFailure(int shard, long step, int attempt, int failAttempts) {
    String scope = failAttempts == 0 ? "every attempt" : "the first " + failAttempts + " attempt(s) (stub.fail-attempts)";
    return new StubFaultException("injected failure (stub.fail-at-step=" + step + "): shard " + shard + " failed at step "
        + step + " on attempt " + attempt + "; configured to fail on " + scope);
  }

  private static void hangUntilStopped(TrainerContext context, int shard, long step) throws InterruptedException {
    while (!context.stopRequested()) {
      LockSupport.parkNanos(POLL_NS);
      if (Thread.interrupted()) throw interrupted("hanging (stub.hang-at-step=" + step + ") in shard " + shard);
    }
  }

  /** Waits until {@code deadlineNs}; false when a stop was requested first. */
  private static boolean awaitDeadline(long deadlineNs, TrainerContext context, long step) throws InterruptedException {
    while (true) {
      if (context.stopRequested()) return false;
      long remainingNs = deadlineNs - System.nanoTime();
      if (remainingNs <= 0) return true;
      LockSupport.parkNanos(Math.min(remainingNs, POLL_NS));
      if (Thread.interrupted()) throw interrupted("pacing step " + step);
    }
  }

  private static InterruptedException interrupted(String what) {
    return new InterruptedException("stub trainer interrupted while " + what);
  }

  @Override
  public String toString() {
    return "StubTrainer[seed=" + config.seed + ", step-time=" + stub.stepTime() + "]";
  }
}
