package io.quarry.worker.collective;

/**
 * Which part of the vector a ring member sends and receives at each step of a ring all-reduce, as plain arithmetic.
 *
 * <p>The vector of {@code length} floats is cut into {@code size} segments (segment {@code k} is
 * {@code [k·length/size, (k+1)·length/size)}, so they differ by at most one float and may be empty). The round has
 * {@code 2(size−1)} steps: {@code size−1} of reduce-scatter, then {@code size−1} of all-gather. At reduce-scatter step
 * {@code s} member {@code r} sends segment {@code r−s} to its right neighbour and adds segment {@code r−s−1}, received
 * from its left, into its own; after the last one it holds the whole sum of segment {@code r+1}. At all-gather step
 * {@code s} it sends segment {@code r+1−s} and overwrites segment {@code r−s} with what it receives (all mod
 * {@code size}).
 *
 * <p>The segment a member sends at step {@code t+1} is the one it received at step {@code t}, in both phases and
 * across the switch from one to the other: that is what lets the sender forward a segment while it still arrives.
 * Segment {@code k} is summed along the ring starting at member {@code k}: {@code ((x_k + x_{k+1}) + x_{k+2}) + …},
 * once, and then copied unchanged to every member, so every member ends with the same bits, run after run.
 */
public final class RingSchedule {
  private final int size;
  private final int rank;
  private final long length;

  /**
   * @param size the ring's members, at least 1
   * @param rank this member's place in the ring, from 0
   * @param length the floats of the vector, 0 or more
   */
  public RingSchedule(int size, int rank, long length) {
    if (size < 1) throw new IllegalArgumentException("a ring has at least 1 member, not " + size);
    if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " is not in a ring of " + size);
    if (length < 0) throw new IllegalArgumentException("a vector of " + length + " floats");
    this.size = size;
    this.rank = rank;
    this.length = length;
  }

  /** Steps in one round: {@code 2(size−1)}. */
  public int steps() {
    return 2 * (size - 1);
  }

  /** Whether step {@code step} adds what arrives (reduce-scatter) rather than copying it (all-gather). */
  public boolean reduces(int step) {
    return step < size - 1;
  }

  /** The segment this member sends at {@code step}. */
  public int sendSegment(int step) {
    return reduces(step) ? mod(rank - step) : mod(rank + 1 - (step - (size - 1)));
  }

  /** The segment this member receives at {@code step}. */
  public int receiveSegment(int step) {
    return reduces(step) ? mod(rank - step - 1) : mod(rank - (step - (size - 1)));
  }

  /** The first float of segment {@code segment}. */
  public long segmentStart(int segment) {
    return segment * length / size;
  }

  /** The floats of segment {@code segment}. */
  public long segmentLength(int segment) {
    return (segment + 1) * length / size - segment * length / size;
  }

  private int mod(int value) {
    return Math.floorMod(value, size);
  }
}
