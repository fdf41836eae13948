package io.quarry.djl;

/**
 * Numeric samples, tabular or images: {@code rows} samples of {@link #features} floats each (row-major, one sample
 * after another; an image in CHW order, see {@link SampleShape}) and one class label per sample.
 *
 * @param source where it came from, for messages
 * @param shape one sample's shape
 * @param x the values, {@code rows * features} long
 * @param y the labels, {@code 0 .. classes-1}
 * @param classes the number of classes (at least the largest label + 1)
 */
public record TabularData(String source, SampleShape shape, float[] x, int[] y, int classes) {
  /** The most values one split may hold: one Java array. */
  public static final long MAX_VALUES = Integer.MAX_VALUE - 16;

  public TabularData {
    if (x.length != (long) y.length * shape.size()) {
      throw new IllegalArgumentException(source + ": " + x.length + " values for " + y.length + " rows of " + shape);
    }
  }

  /** Tabular data of {@code features} values per row. */
  public TabularData(String source, int features, float[] x, int[] y, int classes) {
    this(source, tabularShape(source, features), x, y, classes);
  }

  private static SampleShape tabularShape(String source, int features) {
    if (features < 1) throw new IllegalArgumentException(source + ": no feature columns");
    return SampleShape.tabular(features);
  }

  /** {@code rows} samples of {@code shape} as one array's length; fails naming {@code source} when too many. */
  static int values(String source, long rows, SampleShape shape) {
    long values = rows * shape.size();
    if (values > MAX_VALUES) {
      throw new IllegalArgumentException(source + ": " + rows + " samples of " + shape + " are " + values
          + " values, more than the " + MAX_VALUES + " one split may hold");
    }
    return (int) values;
  }

  public int rows() {
    return y.length;
  }

  /** Values per sample. */
  public int features() {
    return shape.size();
  }

  public boolean images() {
    return shape.image();
  }

  /** Image channels; 1 for tabular data. */
  public int channels() {
    return shape.channels();
  }

  /** Image height; 1 for tabular data. */
  public int height() {
    return shape.height();
  }

  /** Image width; the features for tabular data. */
  public int width() {
    return shape.width();
  }

  /** The rows at {@code indices}, in that order. */
  public TabularData select(int[] indices) {
    int d = features();
    float[] sx = new float[Math.multiplyExact(indices.length, d)];
    int[] sy = new int[indices.length];
    for (int i = 0; i < indices.length; i++) {
      System.arraycopy(x, indices[i] * d, sx, i * d, d);
      sy[i] = y[indices[i]];
    }
    return new TabularData(source, shape, sx, sy, classes);
  }

  /** The same samples, declared to have {@code classes} classes. */
  TabularData withClasses(int classes) {
    return classes == this.classes ? this : new TabularData(source, shape, x, y, classes);
  }
}
