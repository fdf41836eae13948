package io.quarry.worker.trainer;

import io.quarry.protocol.HardExamplePayload;
import java.awt.image.BufferedImage;
import java.util.Arrays;

/**
 * What one hard example looks like, for the people reading a run's hard examples: a PNG thumbnail of an image, or
 * the leading features of a tabular sample. A {@link PayloadRenderer} makes them; the worker sends them to the
 * coordinator, which writes them under {@code <run dir>/hard_examples/}.
 */
public sealed interface Payload permits Payload.Image, Payload.Features {
  /** The longest side of a thumbnail, in pixels; the coordinator drops a larger PNG. */
  int MAX_SIDE = HardExamplePayload.MAX_PNG_SIDE;
  /** The most features a {@link Features} payload keeps: the leading ones. */
  int MAX_FEATURES = HardExamplePayload.MAX_FEATURES;

  /**
   * A PNG image of at most {@link #MAX_SIDE} x {@link #MAX_SIDE} pixels.
   *
   * @param png the encoded PNG file
   */
  record Image(byte[] png) implements Payload {
    public Image {
      if (png == null) throw new IllegalArgumentException("png must not be null");
    }
  }

  /**
   * The leading features of a tabular sample, at most {@link #MAX_FEATURES}.
   *
   * @param values the features, in the dataset's column order
   */
  record Features(float[] values) implements Payload {
    public Features {
      if (values == null) throw new IllegalArgumentException("values must not be null");
      if (values.length > MAX_FEATURES) {
        throw new IllegalArgumentException("a features payload holds at most " + MAX_FEATURES + " values, got "
            + values.length + "; use Payload.features(...), which keeps the leading ones");
      }
    }
  }

  /** An already encoded PNG of at most {@link #MAX_SIDE} pixels a side (not checked here; the coordinator checks). */
  static Payload png(byte[] png) {
    return new Image(png);
  }

  /** {@code image} scaled down to fit {@link #MAX_SIDE} x {@link #MAX_SIDE} (never up), as a PNG. */
  static Payload thumbnail(BufferedImage image) {
    return new Image(Thumbnails.png(Thumbnails.fit(image, MAX_SIDE)));
  }

  /**
   * A thumbnail of an image held as floats in channel-height-width order (a tensor's layout), 1 channel (grey) or 3
   * (RGB), stretched so that its lowest value is black and its highest white: standardised pixels show as well as
   * raw ones.
   */
  static Payload thumbnail(float[] chw, int channels, int height, int width) {
    return thumbnail(Thumbnails.fromChw(chw, channels, height, width));
  }

  /** The leading {@link #MAX_FEATURES} of {@code values} (all of them when there are fewer), copied. */
  static Payload features(float[] values) {
    return new Features(Arrays.copyOf(values, Math.min(values.length, MAX_FEATURES)));
  }
}
