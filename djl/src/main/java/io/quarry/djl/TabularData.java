package io.quarry.djl;

/**
 * A table of numeric samples: {@code rows × features} floats (row-major) and one class label per row.
 *
 * @param source where it came from, for messages
 * @param features values per row
 * @param x the features, row-major, {@code rows * features} long
 * @param y the labels, {@code 0 .. classes-1}
 * @param classes the number of classes (the largest label + 1)
 */
public record TabularData(String source, int features, float[] x, int[] y, int classes) {
  public TabularData {
    if (features < 1) throw new IllegalArgumentException(source + ": no feature columns");
    if (x.length != (long) y.length * features) {
      throw new IllegalArgumentException(source + ": " + x.length + " values for " + y.length + " rows of " + features);
    }
  }

  public int rows() {
    return y.length;
  }

  /** The rows at {@code indices}, in that order. */
  public TabularData select(int[] indices) {
    float[] sx = new float[indices.length * features];
    int[] sy = new int[indices.length];
    for (int i = 0; i < indices.length; i++) {
      System.arraycopy(x, indices[i] * features, sx, i * features, features);
      sy[i] = y[indices[i]];
    }
    return new TabularData(source, features, sx, sy, classes);
  }
}
