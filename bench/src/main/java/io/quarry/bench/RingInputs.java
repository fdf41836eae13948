package io.quarry.bench;

import io.quarry.worker.collective.RingSchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * The ring benchmarks' inputs and their check (bench/allreduce.sh, every transport): member {@code m}'s float
 * {@code i} is a hash of {@code (m, i)} scaled by a per-member magnitude (1, 10³, 10⁻³, 37, …), so that the sum's bits
 * depend on the order of the additions. {@link #verify} recomputes the sum with a plain loop in the ring's fixed order
 * ({@link RingSchedule}: segment {@code k} is summed along the ring from member {@code k}) and compares every float bit
 * for bit; {@link #checksum} lets the script compare the result across members and transports.
 */
final class RingInputs {
  private static final float[] SCALES = {1f, 1e3f, 1e-3f, 37f, 0.5f};
  private static final int BLOCK = 1 << 16;

  private RingInputs() {}

  static float value(int member, long i) {
    long h = (i + 1) * 0x9E3779B97F4A7C15L + (member + 1) * 0xC2B2AE3D27D4EB4FL;
    h ^= h >>> 31;
    h *= 0xBF58476D1CE4E5B9L;
    h ^= h >>> 29;
    float unit = (h >>> 40) * 0x1p-24f;
    return (unit - 0.5f) * SCALES[member % SCALES.length];
  }

  /**
   * Member {@code member}'s input: a direct buffer of {@code length} little-endian floats, computed once and copied
   * into the vector before each round (a bulk copy, so that the members start their rounds as close together as a
   * plain fill would let them).
   */
  static ByteBuffer input(int member, int length) {
    ByteBuffer data = ByteBuffer.allocateDirect(4 * length).order(ByteOrder.LITTLE_ENDIAN);
    FloatBuffer floats = data.duplicate().order(ByteOrder.LITTLE_ENDIAN).clear().asFloatBuffer();
    float[] block = new float[BLOCK];
    for (int from = 0; from < length; from += BLOCK) {
      int n = Math.min(BLOCK, length - from);
      for (int j = 0; j < n; j++) block[j] = value(member, from + j);
      floats.put(from, block, 0, n);
    }
    return data;
  }

  /**
   * Null when {@code data} holds exactly the ring-ordered sum of the {@code size} members' inputs, else a one-line
   * description of the first float that differs.
   */
  static String verify(ByteBuffer data, int size) {
    FloatBuffer floats = data.duplicate().order(ByteOrder.LITTLE_ENDIAN).clear().asFloatBuffer();
    int length = data.limit() / 4;
    RingSchedule schedule = new RingSchedule(size, 0, length);
    for (int k = 0; k < size; k++) {
      long start = schedule.segmentStart(k);
      long end = start + schedule.segmentLength(k);
      for (long i = start; i < end; i++) {
        float sum = value(k, i);
        for (int j = 1; j < size; j++) sum = sum + value((k + j) % size, i);
        float got = floats.get((int) i);
        if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(sum)) {
          return "float " + i + " is " + got + " (bits " + Integer.toHexString(Float.floatToRawIntBits(got))
              + "), the ring-ordered plain sum is " + sum + " (bits " + Integer.toHexString(Float.floatToRawIntBits(sum))
              + ")";
        }
      }
    }
    return null;
  }

  /** A 64-bit FNV-1a hash of the floats' bits, in hex. */
  static String checksum(ByteBuffer data) {
    FloatBuffer floats = data.duplicate().order(ByteOrder.LITTLE_ENDIAN).clear().asFloatBuffer();
    int length = data.limit() / 4;
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < length; i++) {
      h ^= Float.floatToRawIntBits(floats.get(i)) & 0xffffffffL;
      h *= 0x100000001b3L;
    }
    return Long.toHexString(h);
  }
}
