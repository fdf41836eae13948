package io.quarry.protocol.sketch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.datadoghq.sketch.ddsketch.DDSketch;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LossSketchEncodingTest {
  private static DDSketch randomSketch(long seed, int n) {
    SplittableRandom random = new SplittableRandom(seed);
    DDSketch sketch = LossSketch.create();
    for (int i = 0; i < n; i++) sketch.accept(Math.exp(random.nextGaussian() * 2));
    sketch.accept(0);
    return sketch;
  }

  @Test
  void decodedSketchAnswersTheSameQuantilesAsTheOriginal() {
    DDSketch original = randomSketch(1, 50_000);
    DDSketch decoded = LossSketch.decode(LossSketch.encode(original));
    assertEquals(original.getCount(), decoded.getCount());
    for (double q : new double[] {0, 0.01, 0.5, 0.9, 0.99, 1}) {
      assertEquals(original.getValueAtQuantile(q), decoded.getValueAtQuantile(q), "quantile " + q);
    }
  }

  @Test
  void decodedSketchesMergeWithFreshOnes() {
    DDSketch merged = LossSketch.create();
    merged.mergeWith(LossSketch.decode(LossSketch.encode(randomSketch(1, 1000))));
    assertEquals(1001.0, merged.getCount());
  }

  @Test
  void mergingEncodedSketchesEqualsMergingTheSketches() {
    DDSketch expected = LossSketch.create();
    List<byte[]> encoded = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      DDSketch sketch = randomSketch(i, 37 * i);
      for (int j = 0; j < i; j++) sketch.accept(-j * 3.5); // some negative losses, some workers without any
      expected.mergeWith(sketch);
      encoded.add(LossSketch.encode(sketch));
    }
    encoded.add(new byte[0]);
    encoded.add(null);
    DDSketch merged = LossSketch.mergeEncoded(encoded);
    assertEquals(expected.getCount(), merged.getCount());
    for (double q = 0; q <= 1; q += 0.01) {
      assertEquals(expected.getValueAtQuantile(q), merged.getValueAtQuantile(q), "quantile " + q);
    }
  }

  @Test
  void largeCountsKeepTheirValue() {
    DDSketch original = LossSketch.create();
    original.accept(2.0, 70_000); // needs a wider count than 2 bytes
    original.accept(3.0, 5_000_000_000.0); // and than 4
    original.accept(4.0);
    DDSketch decoded = LossSketch.decode(LossSketch.encode(original));
    assertEquals(original.getCount(), decoded.getCount());
    assertEquals(original.getValueAtQuantile(0.001), decoded.getValueAtQuantile(0.001));
    assertEquals(original.getValueAtQuantile(1), decoded.getValueAtQuantile(1));
  }

  @Test
  void fractionalCountsAreRefused() {
    DDSketch sketch = LossSketch.create();
    sketch.accept(1.0, 0.5);
    assertThrows(IllegalArgumentException.class, () -> LossSketch.encode(sketch));
  }

  @Test
  void zeroAndNegativeLossesRoundTrip() {
    DDSketch original = LossSketch.create();
    for (double v : new double[] {0, 0, -1.5, -1000, 3, 1e-9, Float.MAX_VALUE}) original.accept(v);
    DDSketch decoded = LossSketch.decode(LossSketch.encode(original));
    assertEquals(7.0, decoded.getCount());
    for (double q : new double[] {0, 0.2, 0.3, 0.5, 0.8, 1}) {
      assertEquals(original.getValueAtQuantile(q), decoded.getValueAtQuantile(q), "quantile " + q);
    }
  }

  @Test
  void truncatedBytesAreRejected() {
    byte[] bytes = LossSketch.encode(randomSketch(3, 100));
    byte[] truncated = java.util.Arrays.copyOf(bytes, bytes.length - 1);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LossSketch.decode(truncated));
    assertTrue(e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void emptySketchRoundTripsAsEmpty() {
    assertTrue(LossSketch.decode(LossSketch.encode(LossSketch.create())).isEmpty());
    assertTrue(LossSketch.decode(new byte[0]).isEmpty());
    assertTrue(Double.isNaN(LossSketch.quantile(LossSketch.create(), 0.5)));
  }

  @Test
  void corruptBytesAreRejectedWithTheirLength() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> LossSketch.decode(new byte[] {(byte) 0xff, 1, 2}));
    assertTrue(e.getMessage().contains("3 bytes"), e.getMessage());
  }
}
