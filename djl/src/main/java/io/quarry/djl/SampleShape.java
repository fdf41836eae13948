package io.quarry.djl;

/**
 * The shape of one sample: tabular, {@code (features)}, or an image, {@code (channels, height, width)} flattened
 * row-major in CHW order (channel planes one after another, each row by row). A tabular sample is {@code 1 x 1 x
 * features}, so {@code channels * height * width} is always the values per sample.
 *
 * @param image true for an image, whose channels are normalised as a whole (not per pixel)
 */
public record SampleShape(int channels, int height, int width, boolean image) {
  public SampleShape {
    if (channels < 1 || height < 1 || width < 1) {
      throw new IllegalArgumentException("a sample shape needs positive sizes, not " + channels + "x" + height + "x" + width);
    }
    if ((long) channels * height * width > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("a sample of " + channels + "x" + height + "x" + width + " values is too large");
    }
  }

  /** A tabular sample of {@code features} values. */
  public static SampleShape tabular(int features) {
    return new SampleShape(1, 1, features, false);
  }

  /** An image of {@code channels} planes of {@code height x width} pixels. */
  public static SampleShape image(int channels, int height, int width) {
    return new SampleShape(channels, height, width, true);
  }

  /** Values per sample. */
  public int size() {
    return channels * height * width;
  }

  /** What a model reshapes one sample to: {@code {features}} or {@code {channels, height, width}}. */
  public long[] dims() {
    return image ? new long[] {channels, height, width} : new long[] {width};
  }

  @Override
  public String toString() {
    return image ? channels + "x" + height + "x" + width : width + " features";
  }
}
