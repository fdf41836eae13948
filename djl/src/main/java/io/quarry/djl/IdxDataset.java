package io.quarry.djl;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.ZipException;

/**
 * Reads an idx dataset (the MNIST file format, {@link IdxFiles}): 1-channel images of the header's size, unsigned
 * byte pixels kept as their values 0..255, and byte labels. The t10k files, when present, are the validation split.
 * Every check failure names the file and what was wrong: a bad magic number, a zero dimension, a truncated file, bytes
 * past the header's count, or labels that do not match the images in number.
 */
public final class IdxDataset {
  private IdxDataset() {}

  /** Locates and reads the files in {@code dir}. */
  public static SourceData load(Path dir) throws IOException {
    IdxFiles files = IdxFiles.locate(dir);
    TabularData train = read(files.trainImages(), files.trainLabels());
    if (!files.hasVal()) return SourceData.of(train);
    TabularData val = read(files.valImages(), files.valLabels());
    if (!val.shape().equals(train.shape())) {
      throw new IOException(files.valImages() + ": images of " + val.height() + "x" + val.width() + ", but "
          + files.trainImages() + " has " + train.height() + "x" + train.width());
    }
    int classes = Math.max(train.classes(), val.classes());
    return new SourceData(train.withClasses(classes), val.withClasses(classes), List.of());
  }

  private static TabularData read(Path imagesFile, Path labelsFile) throws IOException {
    int count;
    int rows;
    int columns;
    float[] x;
    try (DataInputStream in = new DataInputStream(IdxFiles.open(imagesFile))) {
      int[] dims = IdxFiles.readHeader(in, imagesFile, IdxFiles.IMAGES_MAGIC);
      count = dims[0];
      rows = dims[1];
      columns = dims[2];
      long bytes = (long) count * rows * columns;
      String expected = "header says " + count + " images of " + rows + "x" + columns + " (" + bytes + " bytes)";
      if (bytes > TabularData.MAX_VALUES) {
        throw new IOException(imagesFile + ": too large: " + expected + ", more than the " + TabularData.MAX_VALUES
            + " values a split may hold");
      }
      byte[] pixels = readBody(in, (int) bytes, imagesFile, expected, "pixels");
      x = new float[pixels.length];
      for (int i = 0; i < pixels.length; i++) x[i] = pixels[i] & 0xFF;
    }
    int[] y;
    int maxLabel = 0;
    try (DataInputStream in = new DataInputStream(IdxFiles.open(labelsFile))) {
      int labels = IdxFiles.readHeader(in, labelsFile, IdxFiles.LABELS_MAGIC)[0];
      if (labels != count) {
        throw new IOException(labelsFile + ": header says " + labels + " labels, but " + imagesFile + " has " + count + " images");
      }
      byte[] body = readBody(in, labels, labelsFile, "header says " + labels + " labels (" + labels + " bytes)", "labels");
      y = new int[labels];
      for (int i = 0; i < labels; i++) {
        y[i] = body[i] & 0xFF;
        maxLabel = Math.max(maxLabel, y[i]);
      }
    }
    return new TabularData(imagesFile.toString(), SampleShape.image(1, rows, columns), x, y, maxLabel + 1);
  }

  /** Exactly {@code length} bytes, then the end of the file. */
  private static byte[] readBody(InputStream in, int length, Path file, String expected, String what) throws IOException {
    byte[] body = new byte[length];
    int read = 0;
    try {
      while (read < length) {
        int n = in.read(body, read, length - read);
        if (n < 0) break;
        read += n;
      }
    } catch (EOFException e) { // a gzip stream cut short
      throw truncated(file, expected, read, what + ", then the compressed stream ends early");
    } catch (ZipException e) {
      throw new IOException(file + ": corrupt gzip data after " + read + " bytes of " + what + " (" + e.getMessage() + ")", e);
    }
    if (read < length) throw truncated(file, expected, read, what);
    long extra = 0;
    try {
      while (true) {
        long skipped = in.skip(1 << 20);
        if (skipped > 0) {
          extra += skipped;
        } else if (in.read() >= 0) {
          extra++;
        } else {
          break;
        }
      }
    } catch (EOFException e) {
      throw new IOException(file + ": the compressed stream ends early, after the " + what, e);
    }
    if (extra > 0) {
      throw new IOException(file + ": " + extra + " bytes past the end: " + expected + "; not an idx file of that header");
    }
    return body;
  }

  private static IOException truncated(Path file, String expected, int read, String what) {
    return new IOException(file + ": truncated: " + expected + ", file has " + read + " bytes of " + what);
  }
}
