package io.quarry.djl;

import java.util.SplittableRandom;

/**
 * Tabular Gaussian blobs ({@code dataset.synthetic = blobs}), deterministic from the seed: {@value #CLASSES} classes
 * in {@code features} dimensions. Each class has a centre drawn uniformly in [-2, 2] per feature; a sample is its
 * class centre plus unit Gaussian noise, its class drawn uniformly.
 */
public final class BlobsDataset {
  public static final int CLASSES = 10;
  private static final long SALT = 0x5EED_B10BL;

  private BlobsDataset() {}

  public static TabularData generate(int samples, int features, long seed) {
    SplittableRandom random = new SplittableRandom(seed ^ SALT);
    float[][] centres = new float[CLASSES][features];
    for (float[] centre : centres) {
      for (int f = 0; f < features; f++) centre[f] = (float) (random.nextDouble() * 4 - 2);
    }
    String source = "synthetic blobs(" + samples + " of " + features + " features, seed " + seed + ")";
    float[] x = new float[TabularData.values(source, samples, SampleShape.tabular(features))];
    int[] y = new int[samples];
    for (int i = 0; i < samples; i++) {
      int label = random.nextInt(CLASSES);
      y[i] = label;
      for (int f = 0; f < features; f++) x[i * features + f] = centres[label][f] + (float) gaussian(random);
    }
    return new TabularData(source, features, x, y, CLASSES);
  }

  private static double gaussian(SplittableRandom random) {
    double u1 = 1.0 - random.nextDouble();
    double u2 = random.nextDouble();
    return StrictMath.sqrt(-2 * StrictMath.log(u1)) * StrictMath.cos(2 * Math.PI * u2);
  }
}
