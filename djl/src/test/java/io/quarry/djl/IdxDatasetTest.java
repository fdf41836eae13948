package io.quarry.djl;

import static io.quarry.djl.Fixtures.IMAGES_MAGIC;
import static io.quarry.djl.Fixtures.LABELS_MAGIC;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxDatasetTest {
  @TempDir Path dir;

  private RunConfig config(String... more) {
    String[] overrides = Arrays.copyOf(new String[] {"dataset.format=idx", "dataset.path=\"" + dir + "\""}, 2 + more.length);
    System.arraycopy(more, 0, overrides, 2, more.length);
    return Fixtures.config(overrides);
  }

  private static void assertFails(String expected, Path dir) {
    IOException e = assertThrows(IOException.class, () -> IdxDataset.load(dir));
    assertEquals(expected, e.getMessage());
  }

  @Test
  void readsOneChannelImagesOfTheHeadersSizeWithTheirLabels() throws IOException {
    Fixtures.idxPair(dir, "train", 6, "");
    SourceData data = IdxDataset.load(dir);
    TabularData train = data.samples();
    assertNull(data.val());
    assertEquals(SampleShape.image(1, 4, 3), train.shape());
    assertEquals(6, train.rows());
    assertEquals(6, train.classes()); // labels 0..5
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, train.y());
    byte[] pixels = Fixtures.pixels(6, 4, 3);
    for (int i = 0; i < pixels.length; i++) assertEquals(pixels[i] & 0xFF, train.x()[i]);
  }

  @Test
  void gzippedFilesReadTheSame() throws IOException {
    Path plain = Files.createDirectory(dir.resolve("plain"));
    Path gz = Files.createDirectory(dir.resolve("gz"));
    Fixtures.idxPair(plain, "train", 9, "");
    Fixtures.idxPair(gz, "train", 9, ".gz");
    assertArrayEquals(IdxDataset.load(plain).samples().x(), IdxDataset.load(gz).samples().x());
    assertArrayEquals(IdxDataset.load(plain).samples().y(), IdxDataset.load(gz).samples().y());
  }

  @Test
  void t10kFilesAreTheValidationSplitAndTheWholeTrainFileTrains() throws IOException {
    Fixtures.idxPair(dir, "train", 20, ".gz");
    Fixtures.idxPair(dir, "t10k", 7, "");
    PreparedData data = PreparedData.of(config("dataset.normalize=none", "dataset.val-fraction=0.5"));
    assertEquals(20, data.train().rows());
    assertEquals(7, data.val().rows());
    assertEquals(20, config().datasetSamples());
    assertEquals(10, data.classes());
    assertTrue(data.images());
    assertEquals(1, data.channels());
    assertEquals(4, data.height());
    assertEquals(3, data.width());
    assertEquals(12, data.features());
    byte[] pixels = Fixtures.pixels(7, 4, 3);
    for (int i = 0; i < pixels.length; i++) assertEquals(pixels[i] & 0xFF, data.val().x()[i]);
    assertEquals("3", data.className(3));
  }

  @Test
  void withoutT10kFilesTheValFractionIsHeldOut() throws IOException {
    Fixtures.idxPair(dir, "train", 20, "");
    PreparedData data = PreparedData.of(config("dataset.val-fraction=0.25"));
    assertEquals(15, data.train().rows());
    assertEquals(5, data.val().rows());
    assertEquals(15, config("dataset.val-fraction=0.25").datasetSamples());
  }

  @Test
  void truncatedPixelsNameTheFileTheHeaderAndWhatIsThere() throws IOException {
    Path images = Fixtures.idx(dir.resolve("train-images-idx3-ubyte"), IMAGES_MAGIC, new int[] {5, 4, 4}, new byte[30]);
    Fixtures.idx(dir.resolve("train-labels-idx1-ubyte"), LABELS_MAGIC, new int[] {5}, new byte[5]);
    assertFails(images + ": truncated: header says 5 images of 4x4 (80 bytes), file has 30 bytes of pixels", dir);
  }

  @Test
  void aCutGzipIsTruncatedToo() throws IOException {
    Path images = dir.resolve("train-images-idx3-ubyte.gz");
    Fixtures.idx(images, IMAGES_MAGIC, new int[] {50, 28, 28}, Fixtures.pixels(50, 28, 28));
    Fixtures.idx(dir.resolve("train-labels-idx1-ubyte"), LABELS_MAGIC, new int[] {50}, new byte[50]);
    byte[] whole = Files.readAllBytes(images);
    Files.write(images, Arrays.copyOf(whole, whole.length / 2));
    IOException e = assertThrows(IOException.class, () -> IdxDataset.load(dir));
    assertTrue(e.getMessage().startsWith(images + ": truncated: header says 50 images of 28x28 (39200 bytes), file has "),
        e.getMessage());
  }

  @Test
  void labelsThatDoNotMatchTheImagesAreNamed() throws IOException {
    Path images = Fixtures.idx(dir.resolve("train-images-idx3-ubyte"), IMAGES_MAGIC, new int[] {5, 2, 2}, new byte[20]);
    Path labels = Fixtures.idx(dir.resolve("train-labels-idx1-ubyte"), LABELS_MAGIC, new int[] {4}, new byte[4]);
    assertFails(labels + ": header says 4 labels, but " + images + " has 5 images", dir);

    Fixtures.idx(labels, LABELS_MAGIC, new int[] {5}, new byte[3]);
    assertFails(labels + ": truncated: header says 5 labels (5 bytes), file has 3 bytes of labels", dir);
  }

  @Test
  void aWrongMagicNumberOrDimensionIsNamed() throws IOException {
    Fixtures.idx(dir.resolve("train-images-idx3-ubyte"), IMAGES_MAGIC, new int[] {2, 2, 2}, new byte[8]);
    Path labels = Fixtures.idx(dir.resolve("train-labels-idx1-ubyte"), IMAGES_MAGIC, new int[] {2, 1, 1}, new byte[2]);
    IOException e = assertThrows(IOException.class, () -> IdxDataset.load(dir));
    assertTrue(e.getMessage().startsWith(labels + ": magic number 0x00000803 is not 0x00000801"), e.getMessage());

    Path images = Fixtures.idx(dir.resolve("train-images-idx3-ubyte"), IMAGES_MAGIC, new int[] {2, 0, 2}, new byte[0]);
    e = assertThrows(IOException.class, () -> IdxDataset.load(dir));
    assertTrue(e.getMessage().startsWith(images + ": the header's rows is 0"), e.getMessage());
  }

  @Test
  void bytesPastTheHeadersCountAreRefused() throws IOException {
    Path images = Fixtures.idx(dir.resolve("train-images-idx3-ubyte"), IMAGES_MAGIC, new int[] {2, 2, 2}, new byte[11]);
    Fixtures.idx(dir.resolve("train-labels-idx1-ubyte"), LABELS_MAGIC, new int[] {2}, new byte[2]);
    assertFails(images + ": 3 bytes past the end: header says 2 images of 2x2 (8 bytes); not an idx file of that header", dir);
  }

  @Test
  void validationImagesOfAnotherSizeAreRefused() throws IOException {
    Fixtures.idxPair(dir, "train", 4, "");
    Path val = Fixtures.idx(dir.resolve("t10k-images-idx3-ubyte"), IMAGES_MAGIC, new int[] {1, 5, 5}, new byte[25]);
    Fixtures.idx(dir.resolve("t10k-labels-idx1-ubyte"), LABELS_MAGIC, new int[] {1}, new byte[1]);
    IOException e = assertThrows(IOException.class, () -> IdxDataset.load(dir));
    assertTrue(e.getMessage().startsWith(val + ": images of 5x5, but "), e.getMessage());
  }
}
