package io.quarry.djl;

import java.util.SplittableRandom;

/**
 * Tabular Gaussian blobs, deterministic from the seed: {@value #CLASSES} classes, {@value #FEATURES} features. Each
 * class has a centre drawn uniformly in [-2, 2] per feature; a sample is its class centre plus unit Gaussian noise,
 * its class drawn uniformly.
 */
public final class SyntheticDataset {
  public static final int CLASSES = 10;
  public static final int FEATURES = 16;
  private static final long SALT = 0x5EED_B10BL;

  private SyntheticDataset() {}

  public static TabularData generate(int samples, long seed) {
    SplittableRandom random = new SplittableRandom(seed ^ SALT);
    float[][] centres = new float[CLASSES][FEATURES];
    for (float[] centre : centres) {
      for (int f = 0; f < FEATURES; f++) centre[f] = (float) (random.nextDouble() * 4 - 2);
    }
    float[] x = new float[samples * FEATURES];
    int[] y = new int[samples];
    for (int i = 0; i < samples; i++) {
      int label = random.nextInt(CLASSES);
      y[i] = label;
      for (int f = 0; f < FEATURES; f++) x[i * FEATURES + f] = centres[label][f] + (float) gaussian(random);
    }
    return new TabularData("synthetic(" + samples + ", seed " + seed + ")", FEATURES, x, y, CLASSES);
  }

  private static double gaussian(SplittableRandom random) {
    double u1 = 1.0 - random.nextDouble();
    double u2 = random.nextDouble();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}
