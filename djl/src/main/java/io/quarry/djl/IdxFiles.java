package io.quarry.djl;

import io.quarry.config.RunConfigException;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * The files of an idx dataset (the MNIST file format) in the {@code dataset.path} directory:
 * {@value #TRAIN_IMAGES} and {@value #TRAIN_LABELS}, and optionally {@value #VAL_IMAGES} and {@value #VAL_LABELS}, which
 * are then the validation split. Each may be gzipped ({@code .gz}); when both forms exist the plain file is read.
 *
 * <p>The coordinator counts the training samples from the header of the training images alone; the DJL trainer
 * locates and reads the files with the same rules, so the counts agree.
 *
 * @param valImages the validation images, or {@code null} when the directory has no t10k files
 * @param valLabels the validation labels, or {@code null} with {@code valImages}
 */
public record IdxFiles(Path trainImages, Path trainLabels, Path valImages, Path valLabels) {
  public static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
  public static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
  public static final String VAL_IMAGES = "t10k-images-idx3-ubyte";
  public static final String VAL_LABELS = "t10k-labels-idx1-ubyte";
  /** Unsigned bytes (0x08) in 3 dimensions: count, rows, columns. */
  public static final int IMAGES_MAGIC = 0x00000803;
  /** Unsigned bytes (0x08) in 1 dimension: count. */
  public static final int LABELS_MAGIC = 0x00000801;

  /** Finds the files in {@code dir}; fails naming {@code dataset.path} and what is missing. */
  public static IdxFiles locate(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new RunConfigException("config key 'dataset.path': '" + dir + "' is not a directory; dataset.format = idx "
          + "needs the directory holding " + TRAIN_IMAGES + " and " + TRAIN_LABELS + " (each may be .gz)");
    }
    Path trainImages = find(dir, TRAIN_IMAGES);
    Path trainLabels = find(dir, TRAIN_LABELS);
    if (trainImages == null || trainLabels == null) {
      String missing = trainImages == null && trainLabels == null ? TRAIN_IMAGES + " and " + TRAIN_LABELS
          : trainImages == null ? TRAIN_IMAGES : TRAIN_LABELS;
      throw new RunConfigException("config key 'dataset.path': '" + dir + "' has no " + missing + " (nor .gz); "
          + "dataset.format = idx expects " + TRAIN_IMAGES + ", " + TRAIN_LABELS + " and, for validation, "
          + VAL_IMAGES + " and " + VAL_LABELS + " (each may be .gz)");
    }
    Path valImages = find(dir, VAL_IMAGES);
    Path valLabels = find(dir, VAL_LABELS);
    if ((valImages == null) != (valLabels == null)) {
      throw new RunConfigException("config key 'dataset.path': '" + dir + "' has "
          + (valImages != null ? VAL_IMAGES + " but no " + VAL_LABELS : VAL_LABELS + " but no " + VAL_IMAGES)
          + " (nor .gz); the validation split needs both, or neither (then dataset.val-fraction holds samples out)");
    }
    return new IdxFiles(trainImages, trainLabels, valImages, valLabels);
  }

  /** True when the directory has its own validation files. */
  public boolean hasVal() {
    return valImages != null;
  }

  /**
   * The training split's size: every training image when the t10k files are the validation split, else
   * {@link DjlSettings.Dataset#trainCount} of them.
   */
  public long trainingSamples(double valFraction) {
    int images;
    try (DataInputStream in = new DataInputStream(open(trainImages))) {
      images = readHeader(in, trainImages, IMAGES_MAGIC)[0];
    } catch (IOException e) {
      throw new RunConfigException("cannot read dataset.path: " + e.getMessage());
    }
    return hasVal() ? images : DjlSettings.Dataset.trainCount(images, valFraction);
  }

  /** Opens {@code file} for reading, gunzipping a {@code .gz}; a bad gzip header fails naming the file. */
  public static InputStream open(Path file) throws IOException {
    InputStream in = Files.newInputStream(file);
    if (!file.getFileName().toString().endsWith(".gz")) return new BufferedInputStream(in, 1 << 16);
    try {
      return new GZIPInputStream(in, 1 << 16);
    } catch (ZipException | EOFException e) {
      in.close();
      throw new IOException(file + ": not a gzip file (" + e.getMessage() + ")", e);
    }
  }

  /**
   * Reads and checks an idx header: the magic number {@code magic} and its dimensions, each at least 1.
   *
   * @return the dimensions: {count} for labels, {count, rows, columns} for images
   */
  public static int[] readHeader(DataInputStream in, Path file, int magic) throws IOException {
    int expectedDims = magic & 0xFF;
    int headerBytes = 4 + 4 * expectedDims;
    int[] dims = new int[expectedDims];
    try {
      int actual = in.readInt();
      if (actual != magic) throw new IOException(file + ": " + describeBadMagic(actual, magic));
      for (int d = 0; d < expectedDims; d++) dims[d] = in.readInt();
    } catch (EOFException e) {
      throw new IOException(file + ": truncated: the idx header needs " + headerBytes + " bytes, the file has fewer", e);
    }
    for (int d = 0; d < expectedDims; d++) {
      if (dims[d] < 1) {
        String what = d == 0 ? (expectedDims == 1 ? "label count" : "image count") : d == 1 ? "rows" : "columns";
        throw new IOException(file + ": the header's " + what + " is " + Integer.toUnsignedString(dims[d])
            + "; it must be at least 1" + (dims[d] < 0 ? " and below 2^31" : ""));
      }
    }
    return dims;
  }

  private static String describeBadMagic(int actual, int magic) {
    String shown = String.format("0x%08X", actual);
    String expected = String.format("0x%08X", magic);
    String what = (magic & 0xFF) == 3 ? "images: unsigned bytes in 3 dimensions" : "labels: unsigned bytes in 1 dimension";
    String why;
    if ((actual >>> 16) != 0) {
      why = "not an idx file (its first two bytes must be 0)";
    } else if (((actual >>> 8) & 0xFF) != 0x08) {
      why = String.format("data type 0x%02X, only 0x08 (unsigned byte) is read", (actual >>> 8) & 0xFF);
    } else {
      why = (actual & 0xFF) + " dimensions, expected " + (magic & 0xFF);
    }
    return "magic number " + shown + " is not " + expected + " (" + what + "): " + why;
  }

  /** {@code dir/name}, else {@code dir/name.gz}, else null. */
  private static Path find(Path dir, String name) {
    Path plain = dir.resolve(name);
    if (Files.isRegularFile(plain)) return plain;
    Path gz = dir.resolve(name + ".gz");
    return Files.isRegularFile(gz) ? gz : null;
  }
}
