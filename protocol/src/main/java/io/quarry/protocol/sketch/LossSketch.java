package io.quarry.protocol.sketch;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.datadoghq.sketch.ddsketch.mapping.BitwiseLinearlyInterpolatedMapping;
import com.datadoghq.sketch.ddsketch.store.UnboundedSizeDenseStore;
import com.datadoghq.sketch.ddsketch.encoding.ByteArrayInput;
import com.datadoghq.sketch.ddsketch.encoding.GrowingByteArrayOutput;
import java.io.IOException;

/**
 * The mergeable quantile sketch of per-sample losses that workers keep and the coordinator merges: a DDSketch
 * with a cheap bit-twiddling index mapping (relative accuracy about 1%). Losses are positive; a zero or
 * negative loss counts into the zero bucket.
 *
 * <p>Every node must build sketches with the same mapping, so they are only ever made here.
 */
public final class LossSketch {
  /** Relative accuracy of every quantile the sketch answers. */
  public static final double RELATIVE_ACCURACY = 0.01;

  private LossSketch() {}

  /** A new, empty sketch. */
  public static DDSketch create() {
    return new DDSketch(new BitwiseLinearlyInterpolatedMapping(RELATIVE_ACCURACY), UnboundedSizeDenseStore::new);
  }

  /**
   * The sketch's wire form: DDSketch's own encoding without the index mapping, which every node knows. (The
   * mapping is left out because decoding an encoded bitwise mapping yields a different mapping class, which
   * would then refuse to merge with {@link #create()}'s sketches.)
   */
  public static byte[] encode(DDSketch sketch) {
    GrowingByteArrayOutput output = GrowingByteArrayOutput.withDefaultInitialCapacity();
    try {
      sketch.encode(output, true);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode a loss sketch: " + e.getMessage(), e);
    }
    return output.trimmedCopy();
  }

  /** Decodes {@link #encode}'s output; an empty array is an empty sketch. */
  public static DDSketch decode(byte[] bytes) {
    if (bytes == null || bytes.length == 0) return create();
    try {
      return DDSketch.decode(
          ByteArrayInput.wrap(bytes),
          UnboundedSizeDenseStore::new,
          new BitwiseLinearlyInterpolatedMapping(RELATIVE_ACCURACY));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("corrupt loss sketch (" + bytes.length + " bytes): " + e.getMessage(), e);
    }
  }

  /** The {@code quantile} of the sketch, or {@code NaN} when it is empty. */
  public static double quantile(DDSketch sketch, double quantile) {
    return sketch.isEmpty() ? Double.NaN : sketch.getValueAtQuantile(quantile);
  }
}
