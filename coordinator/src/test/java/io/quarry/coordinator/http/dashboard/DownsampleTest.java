package io.quarry.coordinator.http.dashboard;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** LTTB keeps a long series' shape in a few points: the ends, its spikes, in order, however long it is. */
class DownsampleTest {
  @Test
  void aShortSeriesIsKeptWhole() {
    double[] x = {0, 1, 2};
    assertArrayEquals(new int[] {0, 1, 2}, Downsample.lttb(x, new double[] {3, 2, 1}, 3, 2000));
  }

  @Test
  void aLongSeriesGivesTheTargetPointsInOrderWithBothEndsAndItsSpike() {
    int n = 200_000;
    double[] x = new double[n];
    double[] y = new double[n];
    Random random = new Random(7);
    for (int i = 0; i < n; i++) {
      x[i] = i;
      y[i] = 2.0 * Math.exp(-3.0 * i / n) + 0.05 * random.nextDouble();
    }
    y[123_457] = 40;
    int[] kept = Downsample.lttb(x, y, n, 2000);
    assertEquals(2000, kept.length);
    assertEquals(0, kept[0]);
    assertEquals(n - 1, kept[kept.length - 1]);
    int[] sorted = kept.clone();
    Arrays.sort(sorted);
    assertArrayEquals(sorted, kept, "ascending");
    assertTrue(Arrays.stream(kept).anyMatch(i -> i == 123_457), "the spike survives");
  }

  @Test
  void nonFiniteValuesDoNotBreakTheChoice() {
    int n = 10_000;
    double[] x = new double[n];
    double[] y = new double[n];
    for (int i = 0; i < n; i++) {
      x[i] = i;
      y[i] = i % 100 == 0 ? Double.NaN : i % 7;
    }
    int[] kept = Downsample.lttb(x, y, n, 500);
    assertEquals(500, kept.length);
    assertTrue(Arrays.stream(kept).allMatch(i -> i >= 0 && i < n));
  }
}
