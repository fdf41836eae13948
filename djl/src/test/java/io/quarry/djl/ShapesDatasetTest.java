package io.quarry.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ShapesDatasetTest {
  @Test
  void theSameSeedGivesTheSameBytesAndAnotherSeedOthers() {
    TabularData one = ShapesDataset.generate(300, 28, 1, 42);
    TabularData two = ShapesDataset.generate(300, 28, 1, 42);
    assertArrayEquals(one.x(), two.x());
    assertArrayEquals(one.y(), two.y());
    TabularData other = ShapesDataset.generate(300, 28, 1, 43);
    assertFalse(Arrays.equals(one.x(), other.x()));
    assertFalse(Arrays.equals(one.y(), other.y()));
  }

  @Test
  void aKnownSeedKeepsItsBytes() {
    // Pins the generator: a change to it changes every shapes run's data and should be deliberate.
    TabularData data = ShapesDataset.generate(50, 28, 3, 42);
    assertEquals(622_449_665, Arrays.hashCode(data.x()));
    assertEquals(1_543_022_630, Arrays.hashCode(data.y()));
  }

  @ParameterizedTest
  @CsvSource({"28, 1", "28, 3", "32, 1", "32, 3"})
  void imagesOfTheConfiguredSizeAndChannelsWithByteValuesAndEveryClass(int size, int channels) {
    TabularData data = ShapesDataset.generate(400, size, channels, 7);
    assertEquals(SampleShape.image(channels, size, size), data.shape());
    assertEquals(400 * channels * size * size, data.x().length);
    assertEquals(10, data.classes());
    for (float value : data.x()) {
      if (!(value >= 0 && value <= 255 && value == Math.rint(value))) throw new AssertionError("not a byte value: " + value);
    }
    int[] perClass = new int[10];
    for (int label : data.y()) perClass[label]++;
    for (int count : perClass) assertTrue(count > 20, Arrays.toString(perClass));
  }

  @Test
  void threeChannelShapesAreColoured() {
    TabularData data = ShapesDataset.generate(20, 28, 3, 1);
    int plane = 28 * 28;
    int coloured = 0;
    for (int i = 0; i < 20; i++) {
      double[] sums = new double[3];
      for (int c = 0; c < 3; c++) for (int p = 0; p < plane; p++) sums[c] += data.x()[i * 3 * plane + c * plane + p];
      if (Math.abs(sums[0] - sums[1]) + Math.abs(sums[1] - sums[2]) > plane * 10) coloured++;
    }
    assertTrue(coloured > 10, coloured + " of 20 samples differ between channels");
  }

  @Test
  void theShapeLiesOnADarkerBackground() {
    // Class means differ where the shapes are: a disc's centre is brighter than its corner on average.
    TabularData data = ShapesDataset.generate(400, 28, 1, 5);
    double centre = 0;
    double corner = 0;
    int discs = 0;
    for (int i = 0; i < data.rows(); i++) {
      if (data.y()[i] != 0) continue;
      discs++;
      centre += data.x()[i * 784 + 14 * 28 + 14];
      corner += data.x()[i * 784];
    }
    assertTrue(discs > 0 && centre / discs > corner / discs + 60, "centre " + centre / discs + ", corner " + corner / discs);
  }
}
