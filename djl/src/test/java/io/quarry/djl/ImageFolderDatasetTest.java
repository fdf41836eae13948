package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderDatasetTest {
  private static final int RED = 0xC81E0A;
  private static final int BLUE = 0x1428F0;

  @TempDir Path dir;

  private RunConfig config(String... more) {
    List<String> overrides = new java.util.ArrayList<>(List.of("dataset.format=image-folder", "dataset.path=\"" + dir + "\""));
    overrides.addAll(List.of(more));
    return Fixtures.config(overrides.toArray(String[]::new));
  }

  private static BufferedImage solid(int width, int height, int rgb) {
    return Fixtures.rgb(width, height, (x, y) -> rgb);
  }

  @Test
  void classesInNameOrderSamplesByClassThenFileResizedToTheImageSize() throws IOException {
    Fixtures.write(dir.resolve("red/b.png"), solid(10, 6, RED));
    Fixtures.write(dir.resolve("red/a.jpg"), solid(5, 5, RED));
    Fixtures.write(dir.resolve("blue/z.png"), solid(40, 30, BLUE));
    Files.writeString(dir.resolve("red/notes.txt"), "not an image: skipped");
    SourceData data = ImageFolderDataset.load(dir, 8, 3);
    assertEquals(List.of("blue", "red"), data.classNames());
    assertNull(data.val());
    TabularData all = data.samples();
    assertEquals(SampleShape.image(3, 8, 8), all.shape());
    assertArrayEquals(new int[] {0, 1, 1}, all.y());
    assertEquals(2, all.classes());
    int plane = 64;
    for (int p = 0; p < plane; p++) { // a solid colour stays that colour, whatever the resize
      assertEquals(0x14, all.x()[p], 1e-3);
      assertEquals(0x28, all.x()[plane + p], 1e-3);
      assertEquals(0xF0, all.x()[2 * plane + p], 1e-3);
      assertEquals(0xC8, all.x()[3 * plane * 2 + p], 1e-3); // red/b.png, sample 2
    }
    assertEquals(0xC8, all.x()[3 * plane], 4); // red/a.jpg: JPEG is lossy
  }

  @Test
  void oneChannelIsTheLuminanceAndGrayImagesKeepTheirStoredValues() throws IOException {
    Fixtures.write(dir.resolve("a/rgb.png"), solid(4, 4, RED));
    BufferedImage gray = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) gray.getRaster().setSample(x, y, 0, 100);
    Fixtures.write(dir.resolve("b/gray.png"), gray);
    TabularData gray1 = ImageFolderDataset.load(dir, 4, 1).samples();
    assertEquals(0.299 * 0xC8 + 0.587 * 0x1E + 0.114 * 0x0A, gray1.x()[0], 1e-3);
    assertEquals(100, gray1.x()[16], 1e-4); // not brightened by a linear-to-sRGB conversion
    TabularData gray3 = ImageFolderDataset.load(dir, 4, 3).samples();
    for (int c = 0; c < 3; c++) assertEquals(100, gray3.x()[48 + c * 16], 1e-4);
  }

  @Test
  void aResizeAveragesRatherThanPicksPixels() throws IOException {
    // 2x2 checks of black and white shrunk 8 times: each output pixel covers both, so it is mid-gray.
    Fixtures.write(dir.resolve("a/checks.png"), Fixtures.rgb(64, 64, (x, y) -> ((x / 2 + y / 2) % 2 == 0) ? 0xFFFFFF : 0));
    TabularData data = ImageFolderDataset.load(dir, 8, 1).samples();
    for (float value : data.x()) assertEquals(127.5, value, 12);
  }

  @Test
  void trainAndValDirectoriesAreTheSplitsAndTheCountsAgree() throws IOException {
    for (int i = 0; i < 5; i++) Fixtures.write(dir.resolve("train/cat/" + i + ".png"), solid(6, 6, RED));
    for (int i = 0; i < 3; i++) Fixtures.write(dir.resolve("train/dog/" + i + ".png"), solid(6, 6, BLUE));
    Fixtures.write(dir.resolve("val/dog/v.png"), solid(6, 6, BLUE));
    PreparedData data = PreparedData.of(config("dataset.image-size=8", "dataset.channels=3"));
    assertEquals(8, data.train().rows());
    assertEquals(1, data.val().rows());
    assertArrayEquals(new int[] {1}, data.val().y());
    assertEquals(8, config().datasetSamples());
    assertEquals("cat", data.className(0));
    assertEquals("dog", data.className(1));
    assertEquals(2, data.classes());
  }

  @Test
  void withoutAValidationDirectoryTheValFractionIsHeldOutAndTheCountsAgree() throws IOException {
    for (int i = 0; i < 7; i++) Fixtures.write(dir.resolve("c" + (i % 3) + "/" + i + ".png"), solid(3, 3, RED));
    PreparedData data = PreparedData.of(config("dataset.image-size=8", "dataset.val-fraction=0.3"));
    assertEquals(config("dataset.val-fraction=0.3").datasetSamples(), data.train().rows());
    assertEquals(5, data.train().rows());
    assertEquals(2, data.val().rows());
  }

  @Test
  void aCorruptImageIsNamed() throws IOException {
    Fixtures.write(dir.resolve("a/good.png"), solid(3, 3, RED));
    Path bad = dir.resolve("a/bad.png");
    Files.write(bad, new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
    IOException e = assertThrows(IOException.class, () -> ImageFolderDataset.load(dir, 8, 1));
    assertTrue(e.getMessage().startsWith(bad + ": "), e.getMessage());

    Files.writeString(bad, "plain text with an image's name");
    e = assertThrows(IOException.class, () -> ImageFolderDataset.load(dir, 8, 1));
    assertEquals(bad + ": not a PNG or JPEG image (no image reader recognises it)", e.getMessage());
  }

  @Test
  void aThumbnailIsTheSourceImageAtItsSize() throws IOException {
    BufferedImage source = Fixtures.rgb(20, 20, (x, y) -> (x * 12) << 16 | (y * 12) << 8 | ((x + y) * 6));
    Fixtures.write(dir.resolve("only/gradient.png"), source);
    PreparedData data = PreparedData.of(config("dataset.image-size=20", "dataset.channels=3", "dataset.val-fraction=0"));
    BufferedImage thumbnail = ImageIO.read(new ByteArrayInputStream(data.thumbnailPng(0)));
    assertEquals(20, thumbnail.getWidth());
    assertEquals(20, thumbnail.getHeight());
    for (int y = 0; y < 20; y++) {
      for (int x = 0; x < 20; x++) {
        int expected = source.getRGB(x, y);
        int actual = thumbnail.getRGB(x, y);
        for (int shift = 0; shift <= 16; shift += 8) {
          assertEquals(expected >> shift & 0xFF, actual >> shift & 0xFF, 1, "pixel " + x + "," + y);
        }
      }
    }
  }

  @Test
  void aLargeImagesThumbnailIsScaledDownToFit64() throws IOException {
    Fixtures.write(dir.resolve("only/big.png"), solid(100, 100, BLUE));
    PreparedData data = PreparedData.of(config("dataset.image-size=100", "dataset.channels=1", "dataset.val-fraction=0"));
    BufferedImage thumbnail = ImageIO.read(new ByteArrayInputStream(data.thumbnailPng(0)));
    assertEquals(64, thumbnail.getWidth());
    assertEquals(64, thumbnail.getHeight());
    int luminance = (int) Math.round(0.299 * 0x14 + 0.587 * 0x28 + 0.114 * 0xF0);
    assertEquals(luminance, thumbnail.getRaster().getSample(31, 31, 0), 1);
  }
}
