package io.quarry.djl;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Reads an image-folder dataset ({@link ImageFolderFiles}: one subdirectory of PNG/JPEG files per class, or
 * {@code train/} and {@code val/} or {@code test/} each holding them). Each image is resampled to {@code size x size}
 * (aspect ratio not kept) and converted to {@code channels}: 1 = luminance, 3 = RGB; alpha is ignored. Pixel values
 * stay 0..255. Samples are ordered by class, then file name; the class names are the subdirectories' names.
 *
 * <p>Files with other extensions and hidden files are skipped without a word (a folder often holds a README or a
 * thumbnail cache); a {@code .png}/{@code .jpg}/{@code .jpeg} file that cannot be decoded fails, naming it.
 */
public final class ImageFolderDataset {
  private ImageFolderDataset() {}

  public static SourceData load(Path dir, int size, int channels) throws IOException {
    ImageFolderFiles files = ImageFolderFiles.list(dir);
    int classes = files.classes().size();
    TabularData train = read(dir.toString(), files.train(), size, channels, classes);
    TabularData val = files.hasVal() ? read(dir.toString(), files.val(), size, channels, classes) : null;
    return new SourceData(train, val, files.classes());
  }

  private static TabularData read(String source, List<List<Path>> byClass, int size, int channels, int classes) throws IOException {
    int count = 0;
    for (List<Path> files : byClass) count += files.size();
    SampleShape shape = SampleShape.image(channels, size, size);
    int d = shape.size();
    float[] x = new float[TabularData.values(source, count, shape)];
    int[] y = new int[count];
    int row = 0;
    for (int label = 0; label < byClass.size(); label++) {
      for (Path file : byClass.get(label)) {
        System.arraycopy(pixels(file, size, channels), 0, x, row * d, d);
        y[row++] = label;
      }
    }
    return new TabularData(source, shape, x, y, classes);
  }

  /** One file's pixels as {@code channels} planes of {@code size x size}. */
  static float[] pixels(Path file, int size, int channels) throws IOException {
    BufferedImage image;
    try {
      image = ImageIO.read(file.toFile());
    } catch (IOException | RuntimeException e) { // decoders throw runtime exceptions on some corrupt input
      throw new IOException(file + ": not a readable image (" + e.getMessage() + ")", e);
    }
    if (image == null) throw new IOException(file + ": not a PNG or JPEG image (no image reader recognises it)");
    float[] planes = Images.planes(image, channels);
    return Images.resize(planes, channels, image.getHeight(), image.getWidth(), size, size);
  }
}
