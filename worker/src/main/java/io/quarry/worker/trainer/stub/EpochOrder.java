package io.quarry.worker.trainer.stub;

/**
 * The order in which one epoch visits a shard's samples: the affine permutation
 * {@code position -> (a * position + b) mod n} with {@code gcd(a, n) = 1}, chosen from (seed, shard, epoch).
 * Nothing proportional to the shard is stored, so a shard of 2^40 samples costs the same as one of ten.
 * An affine map is a weak shuffle (it keeps arithmetic progressions), which is plenty for a simulation.
 */
final class EpochOrder {
  private static final long ORDER_SALT = 0x5EED_0DE5L;

  private final long n;
  private final long a;
  private final long b;

  EpochOrder(long seed, int shard, int epoch, long sampleCount) {
    if (sampleCount < 1) throw new IllegalArgumentException("a shard needs at least one sample, had " + sampleCount);
    n = sampleCount;
    long h = SplitMix64.hash(seed ^ ORDER_SALT, shard, epoch);
    if (n == 1) {
      a = 0;
      b = 0;
      return;
    }
    long candidate = 1 + Long.remainderUnsigned(h, n - 1);
    while (gcd(candidate, n) != 1) candidate = candidate == n - 1 ? 1 : candidate + 1;
    a = candidate;
    b = Long.remainderUnsigned(SplitMix64.mix(h), n);
  }

  /**
   * Writes the shard-relative indices of positions {@code [from, from + count)} into {@code out}, stepping
   * by addition so the hot loop has no multiplication or division.
   */
  void fill(long from, int count, long[] out, long offset) {
    long x = (mulMod(a, from, n) + b) % n;
    for (int i = 0; i < count; i++) {
      out[i] = offset + x;
      x += a;
      if (x >= n) x -= n;
    }
  }

  /** The shard-relative index at one position (for tests and for callers that need a single sample). */
  long at(long position) {
    return (mulMod(a, position, n) + b) % n;
  }

  /** {@code (x * y) mod m} without overflow for any {@code 0 <= x, y < m < 2^62}. */
  static long mulMod(long x, long y, long m) {
    if (Math.multiplyHigh(x, y) == 0 && x * y >= 0) return (x * y) % m;
    long result = 0;
    x %= m;
    while (y > 0) {
      if ((y & 1) != 0) {
        result += x;
        if (result >= m) result -= m;
      }
      x += x;
      if (x >= m) x -= m;
      y >>>= 1;
    }
    return result;
  }

  private static long gcd(long x, long y) {
    while (y != 0) {
      long t = x % y;
      x = y;
      y = t;
    }
    return x;
  }
}
