package io.quarry.djl;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import javax.imageio.ImageIO;

/**
 * Pixels as CHW float planes with values 0..255: taken from a decoded image, resampled, written as PNG. Resampling is
 * done here rather than with Java2D, so it is the same on every JDK and keeps grayscale values as stored (Java2D
 * converts gray images through a linear color space).
 */
final class Images {
  private Images() {}

  /** {@code image}'s pixels as {@code channels} (1 = luminance, 3 = RGB) planes; alpha is ignored. */
  static float[] planes(BufferedImage image, int channels) {
    int w = image.getWidth();
    int h = image.getHeight();
    int plane = w * h;
    float[] out = new float[channels * plane];
    ColorModel model = image.getColorModel();
    boolean gray = model.getColorSpace().getType() == ColorSpace.TYPE_GRAY && !(model instanceof IndexColorModel);
    if (gray) {
      Raster raster = image.getRaster();
      float toByte = 255f / ((1 << model.getComponentSize(0)) - 1);
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          float value = raster.getSample(x, y, 0) * toByte;
          for (int c = 0; c < channels; c++) out[c * plane + y * w + x] = value;
        }
      }
      return out;
    }
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      image.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0; x < w; x++) {
        int r = (row[x] >> 16) & 0xFF;
        int g = (row[x] >> 8) & 0xFF;
        int b = row[x] & 0xFF;
        int at = y * w + x;
        if (channels == 1) {
          out[at] = 0.299f * r + 0.587f * g + 0.114f * b;
        } else {
          out[at] = r;
          out[plane + at] = g;
          out[2 * plane + at] = b;
        }
      }
    }
    return out;
  }

  /**
   * Resamples CHW {@code planes} of {@code h x w} to {@code outH x outW}: separable linear interpolation whose
   * footprint widens when shrinking (as Pillow's bilinear filter), so a large image is averaged, not point-sampled.
   * The same size is returned as is.
   */
  static float[] resize(float[] planes, int channels, int h, int w, int outH, int outW) {
    if (h == outH && w == outW) return planes;
    Filter across = Filter.of(w, outW);
    Filter down = Filter.of(h, outH);
    float[] wide = new float[h * outW];
    float[] out = new float[channels * outH * outW];
    for (int c = 0; c < channels; c++) {
      int in = c * h * w;
      for (int y = 0; y < h; y++) across.apply(planes, in + y * w, 1, wide, y * outW, 1);
      int to = c * outH * outW;
      for (int x = 0; x < outW; x++) down.apply(wide, x, outW, out, to + x, outW);
    }
    return out;
  }

  /** PNG bytes of CHW {@code planes} (1 channel: 8-bit gray, 3: RGB), each value rounded and clamped to 0..255. */
  static byte[] png(float[] planes, int channels, int h, int w) {
    int plane = h * w;
    BufferedImage image;
    if (channels == 1) {
      image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
      int[] values = new int[plane];
      for (int i = 0; i < plane; i++) values[i] = toByte(planes[i]);
      image.getRaster().setSamples(0, 0, w, h, 0, values);
    } else {
      image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
      int[] rgb = new int[plane];
      for (int i = 0; i < plane; i++) {
        rgb[i] = toByte(planes[i]) << 16 | toByte(planes[plane + i]) << 8 | toByte(planes[2 * plane + i]);
      }
      image.setRGB(0, 0, w, h, rgb, 0, w);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(plane + 128);
    try {
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode a PNG in memory", e); // a ByteArrayOutputStream does not fail
    }
    return out.toByteArray();
  }

  static int toByte(double value) {
    return (int) Math.max(0, Math.min(255, Math.round(value)));
  }

  /** The weights of one axis: output index i reads inputs first[i] .. first[i] + count - 1. */
  private record Filter(int[] first, int[] count, float[] weights, int taps) {
    static Filter of(int in, int out) {
      double scale = (double) in / out;
      double support = Math.max(1, scale); // the triangle's half width, in input pixels
      int taps = (int) Math.ceil(support) * 2 + 1;
      int[] first = new int[out];
      int[] count = new int[out];
      float[] weights = new float[out * taps];
      for (int i = 0; i < out; i++) {
        double centre = (i + 0.5) * scale;
        int lo = Math.max(0, (int) Math.floor(centre - support));
        int hi = Math.min(in, (int) Math.ceil(centre + support));
        double total = 0; // > 0: some input pixel centre lies within half a pixel of every output centre
        int n = 0;
        for (int j = lo; j < hi && n < taps; j++, n++) {
          double weight = Math.max(0, 1 - Math.abs((j + 0.5 - centre) / support));
          weights[i * taps + n] = (float) weight;
          total += weight;
        }
        for (int k = 0; k < n; k++) weights[i * taps + k] /= total;
        first[i] = lo;
        count[i] = n;
      }
      return new Filter(first, count, weights, taps);
    }

    void apply(float[] in, int inOffset, int inStride, float[] out, int outOffset, int outStride) {
      for (int i = 0; i < first.length; i++) {
        double sum = 0;
        int base = inOffset + first[i] * inStride;
        for (int k = 0; k < count[i]; k++) sum += in[base + k * inStride] * weights[i * taps + k];
        out[outOffset + i * outStride] = (float) sum;
      }
    }
  }
}
