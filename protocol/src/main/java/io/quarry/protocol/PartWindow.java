package io.quarry.protocol;

import java.util.List;

/**
 * Flow control for a message cut into parts: the sender sends the first {@link #IN_FLIGHT} parts at once and the
 * rest only as the receiver grants them. Artery queues at most 3072 messages per peer
 * ({@code outbound-message-queue-size}) and drops what does not fit; a snapshot of a large K over a small frame can
 * take thousands of parts, so they may not all be queued at once. The receiver grants more every
 * {@link #CREDIT_EVERY} parts ({@link #creditAfter}), which keeps about {@link #IN_FLIGHT} parts in flight; a message
 * of at most {@link #IN_FLIGHT} parts (any K = 1024 snapshot) needs no grant and no extra round trip.
 *
 * <p>Not thread-safe: an actor's state.
 *
 * @param <P> the part's message type
 */
public final class PartWindow<P> {
  /** Parts a sender may have sent and not been granted room beyond. */
  public static final int IN_FLIGHT = 32;
  /** A receiver grants more room after every this many parts. */
  public static final int CREDIT_EVERY = IN_FLIGHT / 2;

  private final List<P> parts;
  private int sent;

  /** The parts of one message, in order. */
  public PartWindow(List<P> parts) {
    this.parts = List.copyOf(parts);
  }

  /** The parts to send at once: the first {@link #IN_FLIGHT} of them. */
  public List<P> first() {
    return upTo(IN_FLIGHT);
  }

  /**
   * The receiver has room up to part {@code upTo - 1}: the parts not sent yet below it (none for a grant already
   * used, or a stale one).
   */
  public List<P> upTo(int upTo) {
    int from = sent;
    sent = Math.max(sent, Math.min(upTo, parts.size()));
    return parts.subList(from, sent);
  }

  /** True once every part has been sent. */
  public boolean done() {
    return sent == parts.size();
  }

  public int parts() {
    return parts.size();
  }

  /**
   * The grant a receiver sends having received the first {@code received} parts of {@code parts}: room up to part
   * {@code received + IN_FLIGHT - 1}, after every {@link #CREDIT_EVERY} parts while parts remain that no grant covers
   * yet; -1 when none is due.
   */
  public static int creditAfter(int received, int parts) {
    if (received <= 0 || received % CREDIT_EVERY != 0) return -1;
    // The grant made CREDIT_EVERY parts ago (or the initial window) covered up to received + IN_FLIGHT - CREDIT_EVERY.
    return received + IN_FLIGHT - CREDIT_EVERY < parts ? received + IN_FLIGHT : -1;
  }
}
