package io.quarry.worker.trainer.stub;

/**
 * The numbers the stub trainer makes up. Per-sample losses are pure functions of (seed, sample id, epoch,
 * progress), never of the worker, the attempt or the clock, so every run with one seed sees the same losses;
 * only the per-step and per-eval noise comes from the stub's RNG, whose state the checkpoint carries.
 */
public final class StubLossModel {
  /** Planted-hard losses lie in [{@value #HARD_MIN}, {@value #HARD_MAX}). */
  public static final double HARD_MIN = 3.0;
  public static final double HARD_MAX = 10.0;
  /** Other losses start in [{@value #EASY_MIN}, {@value #EASY_MAX}) and shrink with progress. */
  public static final double EASY_MIN = 0.5;
  public static final double EASY_MAX = 2.0;
  /** At the end of a shard an easy sample's loss is this fraction lower than at its start. */
  public static final double EASY_DECAY = 0.6;
  /** Half-width of the uniform noise added to each step's mean loss. */
  public static final double STEP_NOISE = 0.05;

  private static final long HARD_SALT = 0x4A52_D0E5_7AB1_E5L;
  private static final long LOSS_SALT = 0x1055_0F5A_3E11L;
  private static final float HARD_MAX_FLOAT = Math.nextDown((float) HARD_MAX);
  private static final float EASY_MAX_FLOAT = Math.nextDown((float) EASY_MAX);

  private StubLossModel() {}

  /**
   * True when {@code sampleId} is one of the samples planted hard in a run with {@code seed}: the same
   * samples in every epoch, shard and worker, about {@code hardFraction} of all sample ids.
   */
  public static boolean isPlantedHard(long sampleId, long seed, double hardFraction) {
    return SplitMix64.unit(SplitMix64.hash(seed ^ HARD_SALT, sampleId)) < hardFraction;
  }

  /**
   * One sample's loss at one step: planted-hard samples in [3, 10) whatever the progress, the others in
   * [0.5, 2.0) scaled by {@code 1 - 0.6 * progress}; the position within each range is a hash of
   * (seed, sample id, epoch).
   *
   * @param progress the shard's progress in [0, 1]: step / total steps
   */
  public static float sampleLoss(long sampleId, long seed, int epoch, double progress, double hardFraction) {
    double u = SplitMix64.unit(SplitMix64.hash(seed ^ LOSS_SALT, sampleId, epoch));
    if (isPlantedHard(sampleId, seed, hardFraction)) {
      return Math.min((float) (HARD_MIN + (HARD_MAX - HARD_MIN) * u), HARD_MAX_FLOAT);
    }
    double loss = (EASY_MIN + (EASY_MAX - EASY_MIN) * u) * (1.0 - EASY_DECAY * progress);
    return Math.min((float) loss, EASY_MAX_FLOAT);
  }

  /**
   * The learning rate at {@code step}: cosine decay from {@code baseLr} at step 0 to 0 at {@code totalSteps}.
   * StrictMath, because Math.cos may differ by an ulp between JVMs and CPUs, and a shard resumed on another
   * worker must report the same column.
   */
  public static float learningRate(double baseLr, long step, long totalSteps) {
    double t = totalSteps <= 0 ? 0.0 : Math.min(1.0, (double) step / totalSteps);
    return (float) (baseLr * 0.5 * (1.0 + StrictMath.cos(Math.PI * t)));
  }

  /** The expected mean training loss at {@code progress}, which the fake evaluation follows. */
  static double expectedLoss(double progress, double hardFraction) {
    double hardMean = (HARD_MIN + HARD_MAX) / 2;
    double easyMean = (EASY_MIN + EASY_MAX) / 2 * (1.0 - EASY_DECAY * progress);
    return hardFraction * hardMean + (1.0 - hardFraction) * easyMean;
  }

  /** The fake validation loss after an epoch: the expected loss, a little lower, with noise from {@code rng}. */
  static float valLoss(double progress, double hardFraction, SplitMix64 rng) {
    return (float) (0.9 * expectedLoss(progress, hardFraction) + 0.03 * rng.nextSigned());
  }

  /** The fake validation accuracy after an epoch: rises with progress, planted-hard samples mostly wrong. */
  static float valAccuracy(double progress, double hardFraction, SplitMix64 rng) {
    double easy = 0.6 + 0.35 * progress;
    double accuracy = (1.0 - hardFraction) * easy + hardFraction * 0.1 + 0.01 * rng.nextSigned();
    return (float) Math.max(0.0, Math.min(1.0, accuracy));
  }
}
