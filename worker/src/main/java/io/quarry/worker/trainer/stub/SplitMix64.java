package io.quarry.worker.trainer.stub;

/**
 * The stub's random numbers: SplitMix64, whose whole state is one {@code long}, so a checkpoint stores it
 * exactly and a resumed shard draws the same numbers. Also the stateless mixing function used to hash
 * (seed, sample, epoch) into noise that does not depend on which worker runs a shard.
 */
final class SplitMix64 {
  private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

  private long state;

  SplitMix64(long state) {
    this.state = state;
  }

  long state() {
    return state;
  }

  long nextLong() {
    state += GOLDEN_GAMMA;
    return mix(state);
  }

  /** Uniform in [0, 1). */
  double nextUnit() {
    return unit(nextLong());
  }

  /** Uniform in [-1, 1). */
  double nextSigned() {
    return 2.0 * nextUnit() - 1.0;
  }

  /** SplitMix64's finalizer: a bijective, well-avalanching mix of 64 bits. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** A hash of two values (order matters). */
  static long hash(long a, long b) {
    return mix(mix(a) + GOLDEN_GAMMA * (b + 1));
  }

  /** A hash of three values (order matters). */
  static long hash(long a, long b, long c) {
    return hash(hash(a, b), c);
  }

  /** The top 53 bits as a double in [0, 1). */
  static double unit(long bits) {
    return (bits >>> 11) * 0x1.0p-53;
  }
}
