package io.quarry.worker.collective;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * The sending half of one ring member ({@link RingAllReduce}): a thread of its own that writes each round's segments
 * to the right neighbour, on a blocking connection, forwarding the bytes of a received segment as the member's round
 * thread finishes them (adds them in, or reads them into place). Sending then overlaps receiving and adding: while
 * the round thread adds chunk k, the kernel copies chunk k−1 out here, and the link never waits for the one thread to
 * come back to it (the profile of one thread doing both showed the link idle while it added and read).
 *
 * <p>Deadlines stay with the round thread: a write blocked on a neighbour that stopped reading ends when the round
 * times out and closes the connection. A failed write is kept ({@link #failure}) and wakes the round thread.
 */
final class RingSender {
  /** One round's sending: the vector, its schedule, and per step the bytes of the received segment that are final. */
  record Round(ByteBuffer data, RingSchedule schedule, AtomicLongArray done, long epoch, long sequence, long number) {}

  private final SocketChannel right;
  private final Runnable wake;
  private final RingPhaseTimes times;
  private final ByteBuffer header = ByteBuffer.allocate(RingWire.HEADER_BYTES);
  private final Thread thread;
  private volatile Round round;
  private volatile long finished = -1;
  private volatile Throwable failure;
  private volatile boolean stopped;
  private volatile boolean waiting;

  /**
   * @param right the connection to the right neighbour, in blocking mode
   * @param wake wakes the round thread (a round finished or failed)
   * @param times where write time goes when profiling; null otherwise
   */
  RingSender(SocketChannel right, Runnable wake, RingPhaseTimes times, String name) {
    this.right = right;
    this.wake = wake;
    this.times = times;
    this.thread = new Thread(this::loop, name);
    thread.setDaemon(true);
    thread.start();
  }

  /** Starts sending a round; the previous one has finished. */
  void send(Round next) {
    round = next;
    LockSupport.unpark(thread);
  }

  /** Whether the round of {@code sequence} has been written completely. */
  boolean finished(long sequence) {
    return finished >= sequence;
  }

  /** Why sending failed, or null. */
  Throwable failure() {
    return failure;
  }

  /** The round thread has made more bytes final: a sender waiting for them goes on. */
  void progressed() {
    if (waiting) LockSupport.unpark(thread);
  }

  /** Ends the thread (the connection is closed by the caller, which ends a blocked write). */
  void stop() {
    stopped = true;
    LockSupport.unpark(thread);
  }

  private void loop() {
    while (!stopped) {
      Round r = round;
      if (r == null) {
        LockSupport.park(this);
        continue;
      }
      try {
        sendRound(r);
        round = null;
        finished = r.sequence();
      } catch (IOException | RuntimeException e) {
        if (!stopped) failure = e;
        stopped = true;
      }
      wake.run();
    }
  }

  private void sendRound(Round r) throws IOException {
    RingSchedule schedule = r.schedule();
    ByteBuffer view = r.data().duplicate();
    for (int step = 0; step < schedule.steps(); step++) {
      int segment = schedule.sendSegment(step);
      long bytes = 4 * schedule.segmentLength(segment);
      int base = (int) (4 * schedule.segmentStart(segment));
      RingWire.header(header, r.epoch(), r.sequence(), step, r.number(), (int) bytes);
      write(header);
      long sent = 0;
      while (sent < bytes) {
        long allowed = step == 0 ? bytes : awaitFinal(r.done(), step - 1, sent);
        view.limit(base + (int) allowed).position(base + (int) sent);
        write(view);
        sent = allowed;
      }
    }
  }

  /** Waits until the segment received at {@code step} has more than {@code sent} final bytes; returns how many. */
  private long awaitFinal(AtomicLongArray done, int step, long sent) throws IOException {
    while (true) {
      long ready = done.get(step);
      if (ready > sent) return ready;
      waiting = true;
      ready = done.get(step);
      if (ready <= sent && !stopped) LockSupport.parkNanos(this, 10_000_000L);
      waiting = false;
      if (stopped) throw new IOException("the ring's round ended while sending");
    }
  }

  private void write(ByteBuffer buffer) throws IOException {
    long t0 = times != null ? System.nanoTime() : 0;
    while (buffer.hasRemaining()) right.write(buffer);
    if (times != null) times.write += System.nanoTime() - t0;
  }
}
