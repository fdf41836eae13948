package io.quarry.worker.collective;

/**
 * Where a ring member's rounds spend their time, for profiling ({@code -Dquarry.ring.profile=true}; bench/allreduce.sh
 * with {@code PROFILE=1}): in socket writes, socket reads, additions (with their copies), and waiting on the selector
 * for a neighbour. Off, the ring keeps none and the JIT drops the timing.
 */
public final class RingPhaseTimes {
  static final boolean PROFILE = Boolean.getBoolean("quarry.ring.profile");

  long write;
  long read;
  long add;
  long wait;
  long waits;

  RingPhaseTimes copy() {
    RingPhaseTimes copy = new RingPhaseTimes();
    copy.write = write;
    copy.read = read;
    copy.add = add;
    copy.wait = wait;
    copy.waits = waits;
    return copy;
  }

  void reset() {
    write = 0;
    read = 0;
    add = 0;
    wait = 0;
    waits = 0;
  }

  /** {@code write_ms=… read_ms=… add_ms=… wait_ms=… waits=…}. */
  @Override
  public String toString() {
    return String.format("write_ms=%.2f read_ms=%.2f add_ms=%.2f wait_ms=%.2f waits=%d", write / 1e6, read / 1e6,
        add / 1e6, wait / 1e6, waits);
  }
}
