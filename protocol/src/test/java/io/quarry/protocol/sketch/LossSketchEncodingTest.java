package io.quarry.protocol.sketch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.datadoghq.sketch.ddsketch.DDSketch;
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
    LossSketch.mergeEncoded(merged, LossSketch.encode(randomSketch(2, 1000)));
    LossSketch.mergeEncoded(merged, new byte[0]);
    assertEquals(2002.0, merged.getCount());
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
