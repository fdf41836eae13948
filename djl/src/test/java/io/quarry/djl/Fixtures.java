package io.quarry.djl;

import io.quarry.config.RunConfig;
import java.awt.image.BufferedImage;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;

/** Small datasets written by hand into a test's temporary directory: nothing binary is committed or downloaded. */
final class Fixtures {
  static final int IMAGES_MAGIC = 0x00000803;
  static final int LABELS_MAGIC = 0x00000801;

  private Fixtures() {}

  /** An idx file: {@code magic}, the {@code dims}, then {@code body}; gzipped when the name ends in .gz. */
  static Path idx(Path file, int magic, int[] dims, byte[] body) throws IOException {
    OutputStream raw = Files.newOutputStream(file);
    if (file.toString().endsWith(".gz")) raw = new GZIPOutputStream(raw);
    try (DataOutputStream out = new DataOutputStream(raw)) {
      out.writeInt(magic);
      for (int d : dims) out.writeInt(d);
      out.write(body);
    }
    return file;
  }

  /** {@code count} images of {@code rows x columns}: pixel p of image i is {@code (i * 7 + p) % 256}. */
  static byte[] pixels(int count, int rows, int columns) {
    byte[] body = new byte[count * rows * columns];
    for (int i = 0; i < count; i++) {
      for (int p = 0; p < rows * columns; p++) body[i * rows * columns + p] = (byte) ((i * 7 + p) % 256);
    }
    return body;
  }

  /** Labels {@code i % classes}. */
  static byte[] labels(int count, int classes) {
    byte[] body = new byte[count];
    for (int i = 0; i < count; i++) body[i] = (byte) (i % classes);
    return body;
  }

  /** A matching pair of idx files, {@code prefix} "train" or "t10k", of images of 4 rows and 3 columns. */
  static void idxPair(Path dir, String prefix, int count, String suffix) throws IOException {
    idx(dir.resolve(prefix + "-images-idx3-ubyte" + suffix), IMAGES_MAGIC, new int[] {count, 4, 3}, pixels(count, 4, 3));
    idx(dir.resolve(prefix + "-labels-idx1-ubyte" + suffix), LABELS_MAGIC, new int[] {count}, labels(count, 10));
  }

  /** An RGB image of {@code width x height} with pixel (x, y) = {@code rgb(x, y)}. */
  static BufferedImage rgb(int width, int height, PixelColour rgb) {
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) for (int x = 0; x < width; x++) image.setRGB(x, y, rgb.at(x, y));
    return image;
  }

  interface PixelColour {
    int at(int x, int y);
  }

  /** Writes {@code image} as {@code file}, in the format its extension names. */
  static Path write(Path file, BufferedImage image) throws IOException {
    Files.createDirectories(file.getParent());
    String name = file.getFileName().toString();
    String format = name.substring(name.lastIndexOf('.') + 1).toLowerCase(java.util.Locale.ROOT);
    if (!ImageIO.write(image, format.equals("jpg") ? "jpeg" : format, file.toFile())) {
      throw new IOException("no ImageIO writer for " + format);
    }
    return file;
  }

  /** A djl run config with {@code overrides}. */
  static RunConfig config(String... overrides) {
    List<String> all = new ArrayList<>(List.of("trainer=djl"));
    all.addAll(List.of(overrides));
    return RunConfig.fromOverrides(all, Map.of());
  }
}
