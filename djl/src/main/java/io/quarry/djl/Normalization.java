package io.quarry.djl;

import java.util.Arrays;

/**
 * {@code dataset.normalize}: an affine map {@code x' = (x - offset) * scale} per feature of tabular data and per
 * channel of images, fitted on the training split and applied to both splits. {@code standard} gives the training split
 * mean 0 and standard deviation 1, {@code minmax} the range 0..1, {@code none} leaves values as read. A constant feature
 * or channel keeps scale 1. {@link #invert} recovers a raw value (within float rounding), so no raw copy is kept.
 */
final class Normalization {
  private final SampleShape shape;
  private final double[] offset;
  private final float[] scale;

  private Normalization(SampleShape shape, double[] offset, float[] scale) {
    this.shape = shape;
    this.offset = offset;
    this.scale = scale;
  }

  /** Fits {@code mode} ({@code standard}, {@code minmax} or {@code none}) on {@code train}. */
  static Normalization fit(String mode, TabularData train) {
    SampleShape shape = train.shape();
    int groups = groups(shape);
    double[] offset = new double[groups];
    float[] scale = new float[groups];
    Arrays.fill(scale, 1f);
    switch (mode) {
      case "standard" -> fitStandard(train, offset, scale);
      case "minmax" -> fitMinMax(train, offset, scale);
      case "none" -> {}
      default -> throw new IllegalArgumentException("dataset.normalize '" + mode + "'; allowed: standard, minmax, none");
    }
    return new Normalization(shape, offset, scale);
  }

  /** Normalises {@code x}, samples of this shape, in place. */
  void apply(float[] x) {
    int d = shape.size();
    int run = runLength(shape);
    for (int row = 0; row < x.length; row += d) {
      for (int from = 0, group = 0; from < d; from += run, group++) {
        double o = offset[group];
        float s = scale[group];
        for (int i = row + from, end = i + run; i < end; i++) x[i] = (float) ((x[i] - o) * s);
      }
    }
  }

  /** The raw value of a normalised {@code value} at {@code position} (0 .. features-1) of a sample. */
  double invert(int position, float value) {
    int group = position / runLength(shape);
    return value / (double) scale[group] + offset[group];
  }

  private static void fitStandard(TabularData train, double[] mean, float[] scale) {
    int run = runLength(train.shape());
    long perGroup = (long) train.rows() * run;
    if (perGroup == 0) return;
    double[] sum = new double[mean.length];
    forEachRun(train, (group, x, from, to) -> {
      double s = 0;
      for (int i = from; i < to; i++) s += x[i];
      sum[group] += s;
    });
    for (int g = 0; g < mean.length; g++) mean[g] = sum[g] / perGroup;
    double[] squares = new double[mean.length];
    forEachRun(train, (group, x, from, to) -> {
      double m = mean[group];
      double s = 0;
      for (int i = from; i < to; i++) {
        double delta = x[i] - m;
        s += delta * delta;
      }
      squares[group] += s;
    });
    for (int g = 0; g < mean.length; g++) {
      double std = Math.sqrt(squares[g] / perGroup);
      scale[g] = std > 1e-8 ? (float) (1 / std) : 1f; // a constant feature stays 0 after centring
    }
  }

  private static void fitMinMax(TabularData train, double[] min, float[] scale) {
    if (train.rows() == 0) return;
    double[] max = new double[min.length];
    Arrays.fill(min, Double.POSITIVE_INFINITY);
    Arrays.fill(max, Double.NEGATIVE_INFINITY);
    forEachRun(train, (group, x, from, to) -> {
      float lo = Float.POSITIVE_INFINITY;
      float hi = Float.NEGATIVE_INFINITY;
      for (int i = from; i < to; i++) {
        lo = Math.min(lo, x[i]);
        hi = Math.max(hi, x[i]);
      }
      min[group] = Math.min(min[group], lo);
      max[group] = Math.max(max[group], hi);
    });
    for (int g = 0; g < min.length; g++) {
      double range = max[g] - min[g];
      scale[g] = range > 1e-8 ? (float) (1 / range) : 1f;
    }
  }

  /** Features for tabular data, channels for images. */
  private static int groups(SampleShape shape) {
    return shape.image() ? shape.channels() : shape.size();
  }

  /** Consecutive values of one group within a sample: 1 for tabular data, a channel plane for images. */
  private static int runLength(SampleShape shape) {
    return shape.image() ? shape.height() * shape.width() : 1;
  }

  private interface RunVisitor {
    void visit(int group, float[] x, int from, int to);
  }

  private static void forEachRun(TabularData data, RunVisitor visitor) {
    int d = data.features();
    int run = runLength(data.shape());
    float[] x = data.x();
    for (int row = 0; row < x.length; row += d) {
      for (int from = 0, group = 0; from < d; from += run, group++) visitor.visit(group, x, row + from, row + from + run);
    }
  }
}
