package io.quarry.worker.collective;

/**
 * A ring round did not complete: a neighbour closed its connection or died, nothing arrived before the round's
 * deadline, or what arrived did not fit the round. The ring's epoch is over: its connections are closed, so the
 * neighbours abort too, and the buffer given to the round holds partial sums (callers keep a copy of what they need).
 */
public final class RingAbortedException extends Exception {
  private final long epoch;

  public RingAbortedException(long epoch, String message) {
    super(message);
    this.epoch = epoch;
  }

  public RingAbortedException(long epoch, String message, Throwable cause) {
    super(message, cause);
    this.epoch = epoch;
  }

  /** The epoch of the ring that aborted. */
  public long epoch() {
    return epoch;
  }
}
