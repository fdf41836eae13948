package io.quarry.protocol.sketch;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.datadoghq.sketch.ddsketch.encoding.ByteArrayInput;
import com.datadoghq.sketch.ddsketch.encoding.GrowingByteArrayOutput;
import com.datadoghq.sketch.ddsketch.mapping.BitwiseLinearlyInterpolatedMapping;
import com.datadoghq.sketch.ddsketch.mapping.IndexMapping;
import com.datadoghq.sketch.ddsketch.store.UnboundedSizeDenseStore;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The mergeable quantile sketch of per-sample losses that workers keep and the coordinator merges: a DDSketch
 * with a cheap bit-twiddling index mapping (relative accuracy about 1%). Losses are positive; a zero or
 * negative loss counts into the zero bucket.
 *
 * <p>Every node must build sketches with the same mapping, so they are only ever made here; that is also why the
 * wire form leaves the mapping out. (DDSketch's own encoding would name a bitwise mapping as a plain linearly
 * interpolated one, which decodes into a sketch that no longer merges with {@link #create()}'s.)
 */
public final class LossSketch {
  /** Relative accuracy of every quantile the sketch answers. */
  public static final double RELATIVE_ACCURACY = 0.01;

  private static final IndexMapping MAPPING = new BitwiseLinearlyInterpolatedMapping(RELATIVE_ACCURACY);

  private LossSketch() {}

  /** A new, empty sketch. */
  public static DDSketch create() {
    return new DDSketch(MAPPING, UnboundedSizeDenseStore::new);
  }

  /**
   * The sketch's wire form: DDSketch's binary encoding without the index mapping. ({@code DDSketch.serialize()}
   * writes the protobuf form instead, which {@link #decode} cannot read.)
   */
  public static byte[] encode(DDSketch sketch) {
    GrowingByteArrayOutput output = GrowingByteArrayOutput.withDefaultInitialCapacity();
    try {
      sketch.encode(output, true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode a loss sketch in memory", e);
    }
    return output.trimmedCopy();
  }

  /** Decodes {@link #encode}'s output; an empty array is an empty sketch. */
  public static DDSketch decode(byte[] bytes) {
    DDSketch sketch = create();
    mergeEncoded(sketch, bytes);
    return sketch;
  }

  /**
   * Adds an encoded sketch to {@code target} (one made by {@link #create()}) without building an intermediate
   * sketch: the coordinator folds every worker's sketch into one this way.
   */
  public static void mergeEncoded(DDSketch target, byte[] bytes) {
    if (bytes == null || bytes.length == 0) return;
    try {
      target.decodeAndMergeWith(ByteArrayInput.wrap(bytes));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("corrupt loss sketch (" + bytes.length + " bytes): " + e.getMessage(), e);
    }
  }

  /** The {@code quantile} of the sketch, or {@code NaN} when it is empty. */
  public static double quantile(DDSketch sketch, double quantile) {
    return sketch.isEmpty() ? Double.NaN : sketch.getValueAtQuantile(quantile);
  }
}
