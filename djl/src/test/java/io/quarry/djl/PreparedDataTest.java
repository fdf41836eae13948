package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreparedDataTest {
  @TempDir Path dir;

  private static SourceData shapes(int channels) {
    return SourceData.of(ShapesDataset.generate(300, 28, channels, 11));
  }

  /** Mean and standard deviation of channel {@code c} over a split. */
  private static double[] channelStats(TabularData data, int c) {
    int plane = data.height() * data.width();
    double sum = 0;
    double squares = 0;
    long n = 0;
    for (int i = 0; i < data.rows(); i++) {
      int from = i * data.features() + c * plane;
      for (int p = from; p < from + plane; p++) {
        sum += data.x()[p];
        squares += (double) data.x()[p] * data.x()[p];
        n++;
      }
    }
    double mean = sum / n;
    return new double[] {mean, Math.sqrt(squares / n - mean * mean)};
  }

  @Test
  void standardGivesEachImageChannelMeanZeroAndStdOneOnTheTrainingSplit() {
    PreparedData data = PreparedData.prepare(shapes(3), 0.2, 11, "standard");
    assertEquals(240, data.train().rows());
    for (int c = 0; c < 3; c++) {
      double[] stats = channelStats(data.train(), c);
      assertEquals(0, stats[0], 1e-4, "channel " + c);
      assertEquals(1, stats[1], 1e-4, "channel " + c);
    }
    // Per channel, not per pixel: a corner pixel is darker than average, so it stays below 0 on average.
    double corner = 0;
    for (int i = 0; i < data.train().rows(); i++) corner += data.train().x()[i * data.features()];
    assertTrue(corner / data.train().rows() < -0.1, "corner mean " + corner / data.train().rows());
  }

  @Test
  void minmaxScalesEachChannelOrFeatureOfTheTrainingSplitTo0To1() {
    PreparedData images = PreparedData.prepare(shapes(3), 0.2, 11, "minmax");
    for (int c = 0; c < 3; c++) {
      float min = Float.MAX_VALUE;
      float max = -Float.MAX_VALUE;
      int plane = 28 * 28;
      for (int i = 0; i < images.train().rows(); i++) {
        for (int p = 0; p < plane; p++) {
          float value = images.train().x()[i * 3 * plane + c * plane + p];
          min = Math.min(min, value);
          max = Math.max(max, value);
        }
      }
      assertEquals(0, min, 1e-6);
      assertEquals(1, max, 1e-6);
    }
    TabularData table = new TabularData("t", 2, new float[] {0, 10, 5, 20, 10, 30}, new int[] {0, 1, 0}, 2);
    PreparedData tabular = PreparedData.prepare(new SourceData(table, table.select(new int[] {1}), List.of()), 0, 1, "minmax");
    assertArrayEquals(new float[] {0, 0, 0.5f, 0.5f, 1, 1}, tabular.train().x(), 1e-6f);
  }

  @Test
  void noneKeepsTheValuesAsRead() {
    SourceData source = shapes(1);
    float[] raw = source.samples().x().clone();
    PreparedData data = PreparedData.prepare(source, 0, 11, "none");
    assertArrayEquals(raw, data.train().x());
  }

  @Test
  void leadingFeaturesAreTheRawValuesOfATabularSample() throws IOException {
    Path csv = dir.resolve("t.csv");
    Files.writeString(csv, "a,b,c,label\n1.5,-2,100,0\n3,4.25,7,1\n-8,0.5,9,1\n2,2,2,0\n");
    PreparedData data = PreparedData.of(Fixtures.config("model.type=mlp", "dataset.format=csv",
        "dataset.path=\"" + csv + "\"", "dataset.val-fraction=0"));
    assertEquals(4, data.train().rows());
    assertArrayEquals(new float[] {1.5f, -2}, data.leadingFeatures(0, 2), 1e-5f);
    assertArrayEquals(new float[] {-8, 0.5f, 9}, data.leadingFeatures(2, 10), 1e-5f);
    assertEquals(0.0, data.train().x()[0] + data.train().x()[3] + data.train().x()[6] + data.train().x()[9], 1e-5);
    assertEquals("1", data.className(1));
    assertTrue(!data.images() && data.channels() == 1 && data.height() == 1 && data.width() == 3);
    assertThrows(IllegalStateException.class, () -> data.thumbnailPng(0));
    assertThrows(IndexOutOfBoundsException.class, () -> data.leadingFeatures(4, 1));
  }

  @Test
  void aThumbnailShowsTheRawPixelsOfAnIdxImage() throws IOException {
    Fixtures.idxPair(dir, "train", 10, "");
    PreparedData data = PreparedData.of(Fixtures.config("dataset.format=idx", "dataset.path=\"" + dir + "\"",
        "dataset.val-fraction=0", "dataset.normalize=standard"));
    BufferedImage thumbnail = ImageIO.read(new ByteArrayInputStream(data.thumbnailPng(6)));
    assertEquals(BufferedImage.TYPE_BYTE_GRAY, thumbnail.getType());
    assertEquals(3, thumbnail.getWidth());
    assertEquals(4, thumbnail.getHeight());
    byte[] pixels = Fixtures.pixels(10, 4, 3);
    for (int y = 0; y < 4; y++) {
      for (int x = 0; x < 3; x++) assertEquals(pixels[6 * 12 + y * 3 + x] & 0xFF, thumbnail.getRaster().getSample(x, y, 0));
    }
  }

  @Test
  void shapesThumbnailsAre28PixelsAndShapesHaveNames() throws IOException {
    PreparedData data = PreparedData.of(Fixtures.config("dataset.samples=100", "dataset.channels=3"));
    BufferedImage thumbnail = ImageIO.read(new ByteArrayInputStream(data.thumbnailPng(3)));
    assertEquals(28, thumbnail.getWidth());
    assertEquals(28, thumbnail.getHeight());
    assertEquals(List.of("disc", "ring"), List.of(data.className(0), data.className(1)));
    assertThrows(IllegalArgumentException.class, () -> data.className(10));
  }

  @Test
  void theCacheSharesOneLoadPerDatasetConfig() throws IOException {
    PreparedData one = PreparedData.of(Fixtures.config("dataset.samples=120", "seed=5", "epochs=1"));
    assertSame(one, PreparedData.of(Fixtures.config("dataset.samples=120", "seed=5", "epochs=7", "dataset.features=3")));
    assertNotSame(one, PreparedData.of(Fixtures.config("dataset.samples=120", "seed=5", "dataset.normalize=minmax")));
    assertNotSame(one, PreparedData.of(Fixtures.config("dataset.samples=120", "seed=5", "dataset.image-size=32")));
    assertNotSame(one, PreparedData.of(Fixtures.config("dataset.samples=120", "seed=6")));
  }

  @Test
  void aFailedLoadIsNotCached() throws IOException {
    Path csv = dir.resolve("late.csv");
    var config = Fixtures.config("model.type=mlp", "dataset.format=csv", "dataset.path=\"" + csv + "\"");
    assertThrows(IOException.class, () -> PreparedData.of(config));
    Files.writeString(csv, "1,0\n2,1\n3,0\n4,1\n5,0\n");
    assertEquals(4, PreparedData.of(config).train().rows());
  }
}
