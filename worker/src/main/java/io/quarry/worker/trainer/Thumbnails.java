package io.quarry.worker.trainer;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/** Scaling and PNG encoding for {@link Payload#thumbnail}. Headless: only java.awt.image, never a display. */
final class Thumbnails {
  private Thumbnails() {}

  /** {@code image} scaled down, aspect kept, so that neither side exceeds {@code maxSide}; itself if it fits. */
  static BufferedImage fit(BufferedImage image, int maxSide) {
    int width = image.getWidth();
    int height = image.getHeight();
    if (width <= maxSide && height <= maxSide) return image;
    double scale = (double) maxSide / Math.max(width, height);
    int targetWidth = Math.max(1, (int) Math.round(width * scale));
    int targetHeight = Math.max(1, (int) Math.round(height * scale));
    int type = image.getColorModel().hasAlpha()
        ? BufferedImage.TYPE_INT_ARGB
        : image.getColorModel().getNumComponents() == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB;
    BufferedImage scaled = new BufferedImage(targetWidth, targetHeight, type);
    Graphics2D graphics = scaled.createGraphics();
    try {
      graphics.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
      graphics.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
      graphics.drawImage(image, 0, 0, targetWidth, targetHeight, null);
    } finally {
      graphics.dispose();
    }
    return scaled;
  }

  /**
   * Encodes {@code image} as PNG in memory. ImageIO's stream factory would cache in a temporary file by default;
   * the writer is given a memory-cached stream instead.
   */
  static byte[] png(BufferedImage image) {
    Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("png");
    if (!writers.hasNext()) throw new IllegalStateException("this JVM has no PNG image writer");
    ImageWriter writer = writers.next();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(1024);
    try (ImageOutputStream out = new MemoryCacheImageOutputStream(bytes)) {
      writer.setOutput(out);
      writer.write(image);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode a " + image.getWidth() + "x" + image.getHeight() + " PNG", e);
    } finally {
      writer.dispose();
    }
    return bytes.toByteArray();
  }

  /** A grey (1 channel) or RGB (3) image from channel-height-width floats, min-max stretched to 0..255. */
  static BufferedImage fromChw(float[] chw, int channels, int height, int width) {
    if (channels != 1 && channels != 3) {
      throw new IllegalArgumentException("a thumbnail has 1 (grey) or 3 (RGB) channels, got " + channels);
    }
    if (height < 1 || width < 1 || chw.length < (long) channels * height * width) {
      throw new IllegalArgumentException("pixels: " + chw.length + " values do not hold " + channels + "x" + height
          + "x" + width);
    }
    int plane = height * width;
    float min = Float.POSITIVE_INFINITY;
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < channels * plane; i++) {
      float value = chw[i];
      if (value < min) min = value;
      if (value > max) max = value;
    }
    float range = max > min ? max - min : 1f;
    BufferedImage image = new BufferedImage(width, height,
        channels == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int pixel = y * width + x;
        if (channels == 1) {
          image.getRaster().setSample(x, y, 0, level(chw[pixel], min, range));
        } else {
          int rgb = level(chw[pixel], min, range) << 16 | level(chw[plane + pixel], min, range) << 8
              | level(chw[2 * plane + pixel], min, range);
          image.setRGB(x, y, rgb);
        }
      }
    }
    return image;
  }

  private static int level(float value, float min, float range) {
    if (!(value >= min)) return 0; // NaN
    return Math.min(255, Math.round((value - min) / range * 255f));
  }
}
