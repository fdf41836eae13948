package io.quarry.protocol.sketch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.datadoghq.sketch.ddsketch.DDSketch;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LossSketchTest {
  private static final double[] QUANTILES = {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0};

  private static DDSketch sketchOf(double[] losses) {
    DDSketch sketch = LossSketch.create();
    for (double loss : losses) sketch.accept(loss);
    return sketch;
  }

  /** Per-sample losses as a trainer sees them: mostly small, with a long tail of hard samples. */
  private static double[] losses(long seed, int count) {
    Random random = new Random(seed);
    double[] losses = new double[count];
    for (int i = 0; i < count; i++) {
      losses[i] = random.nextDouble() < 0.1 ? 3.0 + 7.0 * random.nextDouble() : Math.exp(random.nextGaussian() * 0.7);
    }
    return losses;
  }

  private static void assertQuantilesClose(DDSketch expected, DDSketch actual, double relativeTolerance) {
    assertEquals(expected.getCount(), actual.getCount(), 1e-9, "count");
    for (double q : QUANTILES) {
      double want = LossSketch.quantile(expected, q);
      double got = LossSketch.quantile(actual, q);
      assertEquals(want, got, Math.abs(want) * relativeTolerance, "quantile " + q);
    }
  }

  @Test
  void encodeThenDecodePreservesEveryQuantile() {
    DDSketch sketch = sketchOf(losses(1, 5_000));

    DDSketch decoded = LossSketch.decode(LossSketch.encode(sketch));

    assertQuantilesClose(sketch, decoded, 0.0);
  }

  @Test
  void decodedSketchAnswersWithinRelativeAccuracyOfTheExactQuantile() {
    double[] losses = losses(2, 10_001);
    DDSketch decoded = LossSketch.decode(LossSketch.encode(sketchOf(losses)));

    double[] sorted = losses.clone();
    java.util.Arrays.sort(sorted);
    for (double q : new double[] {0.1, 0.5, 0.9, 0.99}) {
      double exact = sorted[(int) Math.floor(q * (sorted.length - 1))];
      double got = LossSketch.quantile(decoded, q);
      assertEquals(exact, got, exact * LossSketch.RELATIVE_ACCURACY * 1.001, "quantile " + q);
    }
  }

  @Test
  void mergeOfTwoSketchesMatchesTheSketchOfTheUnion() {
    double[] a = losses(3, 4_000);
    double[] b = losses(4, 6_000);
    double[] union = new double[a.length + b.length];
    System.arraycopy(a, 0, union, 0, a.length);
    System.arraycopy(b, 0, union, a.length, b.length);

    DDSketch merged = sketchOf(a);
    merged.mergeWith(sketchOf(b));

    assertQuantilesClose(sketchOf(union), merged, LossSketch.RELATIVE_ACCURACY);
  }

  @Test
  void decodedWorkerSketchesMergeIntoAFreshSketchAsTheCoordinatorDoes() {
    double[] a = losses(5, 3_000);
    double[] b = losses(6, 3_000);
    double[] union = new double[a.length + b.length];
    System.arraycopy(a, 0, union, 0, a.length);
    System.arraycopy(b, 0, union, a.length, b.length);

    DDSketch merged = LossSketch.create();
    merged.mergeWith(LossSketch.decode(LossSketch.encode(sketchOf(a))));
    merged.mergeWith(LossSketch.decode(LossSketch.encode(sketchOf(b))));

    assertQuantilesClose(sketchOf(union), merged, LossSketch.RELATIVE_ACCURACY);
  }

  @Test
  void zeroLossesCountIntoTheZeroBucketAndSurviveEncoding() {
    DDSketch sketch = sketchOf(new double[] {0.0, 0.0, 0.0, 2.0});

    DDSketch decoded = LossSketch.decode(LossSketch.encode(sketch));

    assertEquals(4.0, decoded.getCount(), 1e-9);
    assertEquals(0.0, LossSketch.quantile(decoded, 0.5), 0.0);
    assertEquals(2.0, LossSketch.quantile(decoded, 1.0), 2.0 * LossSketch.RELATIVE_ACCURACY);
  }

  @Test
  void emptySketchQuantileIsNaN() {
    assertTrue(Double.isNaN(LossSketch.quantile(LossSketch.create(), 0.5)));
    assertTrue(Double.isNaN(LossSketch.quantile(LossSketch.decode(new byte[0]), 0.9)));
    assertTrue(Double.isNaN(LossSketch.quantile(LossSketch.decode(null), 0.9)));
    assertTrue(Double.isNaN(LossSketch.quantile(LossSketch.decode(LossSketch.encode(LossSketch.create())), 0.9)));
  }

  @Test
  void decodingCorruptBytesFailsWithAClearMessage() {
    byte[] valid = LossSketch.encode(sketchOf(losses(7, 1_000)));
    byte[] truncated = java.util.Arrays.copyOf(valid, valid.length / 2);
    byte[] garbage = {(byte) 0xFF, (byte) 0xFE, 0x7F, 0x00, 0x13, 0x37, (byte) 0xAB};

    for (byte[] corrupt : new byte[][] {truncated, garbage}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LossSketch.decode(corrupt));
      assertTrue(e.getMessage().startsWith("corrupt loss sketch (" + corrupt.length + " bytes)"), e.getMessage());
    }
  }
}
