package io.quarry.worker.collective;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * One member of one ring epoch: sums float vectors with the other members ({@link RingSchedule}: reduce-scatter, then
 * all-gather) over two TCP connections, one to the right neighbour (opened here, on the first round) and one from the
 * left (accepted by this member's {@link DataPlaneEndpoint}).
 *
 * <p>One thread does it all, on non-blocking channels: it writes what it may, reads what has arrived and adds it in,
 * and waits on a selector only when neither can go on. Sending and receiving overlap, and a segment is forwarded as it
 * arrives: at step {@code t+1} a member may send the bytes of the segment it has finished receiving (and adding) at
 * step {@code t} — the round is one pipeline, not {@code 2(N−1)} phases one after the other. The kernel moves bytes
 * while this thread adds. (A second thread writing to the right while this one reads and adds was tried: no gain
 * measured on 2 vCPUs, where the members already fill the cores; BENCHMARKS.md.) The vector lives in one direct
 * buffer; received reduce-scatter bytes pass through a scratch buffer of {@code chunkBytes}, all-gather bytes are
 * read straight into place.
 *
 * <p>Every round has a deadline. A neighbour that closes its connection or dies (its kernel resets the connection)
 * aborts the round at once; one that goes silent (a partition, a stopped process) aborts it at the deadline. An aborted
 * round ends the epoch on this member: both connections are closed, so its neighbours abort too, within the round's
 * deadline at the latest, and every later round of this epoch fails at once. A new ring (a new epoch) goes on.
 *
 * <p>Not thread-safe: one thread runs the rounds; {@link #close} may come from any thread and aborts a round in
 * progress.
 */
public final class RingAllReduce implements AutoCloseable {
  /** Default bytes read and added per step of the loop. */
  public static final int DEFAULT_CHUNK_BYTES = 4 << 20;

  private final DataPlaneEndpoint endpoint;
  private final RingSpec ring;
  private final int chunkBytes;
  private final int socketBufferBytes;
  private final ByteBuffer sendHeader = ByteBuffer.allocate(RingWire.HEADER_BYTES);
  private final ByteBuffer receiveHeader = ByteBuffer.allocate(RingWire.HEADER_BYTES);
  private final ByteBuffer scratch;
  private final FloatBuffer scratchFloats;
  /** The two sides of an addition, on the heap (see {@link #add}). */
  private final float[] addLeft = new float[16 * 1024];
  private final float[] addRight = new float[16 * 1024];
  private ByteBuffer staging;
  // Volatile: close() may come from another thread and must see what the round opened.
  private volatile Selector selector;
  private volatile SocketChannel right;
  private volatile SocketChannel left;
  private SelectionKey rightKey;
  private SelectionKey leftKey;
  private long sequence;
  private volatile String ended;
  /** Per-phase time of this member's rounds, kept only with {@code -Dquarry.ring.profile=true} (bench/allreduce.sh). */
  private final RingPhaseTimes times = RingPhaseTimes.PROFILE ? new RingPhaseTimes() : null;

  /**
   * @param endpoint this member's listening side, where its left neighbour connects
   * @param ring the ring, this member's rank in it and its epoch
   * @param chunkBytes bytes read and added at a time (a multiple of 4, at least 4)
   * @param socketBufferBytes SO_SNDBUF and SO_RCVBUF of the connections; 0 leaves the kernel's (auto-tuned) sizes
   */
  public RingAllReduce(DataPlaneEndpoint endpoint, RingSpec ring, int chunkBytes, int socketBufferBytes) {
    if (chunkBytes < 4 || chunkBytes % 4 != 0) {
      throw new IllegalArgumentException("chunkBytes must be a positive multiple of 4, not " + chunkBytes);
    }
    this.endpoint = endpoint;
    this.ring = ring;
    this.chunkBytes = chunkBytes;
    this.socketBufferBytes = socketBufferBytes;
    this.scratch = ByteBuffer.allocateDirect(chunkBytes).order(ByteOrder.LITTLE_ENDIAN);
    this.scratchFloats = scratch.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
  }

  public RingAllReduce(DataPlaneEndpoint endpoint, RingSpec ring) {
    this(endpoint, ring, DEFAULT_CHUNK_BYTES, 0);
  }

  public RingSpec ring() {
    return ring;
  }

  /** Why this epoch is over on this member (a round aborted, or it was closed), or null while it is usable. */
  public String ended() {
    return ended;
  }

  /**
   * Sums {@code values} with the other members' vectors of the same length, in place. On an abort {@code values} is
   * left as it was (the round works on a direct copy).
   */
  public void allReduce(float[] values, long round, Duration timeout) throws RingAbortedException {
    if (ring.size() == 1) {
      checkUsable();
      return;
    }
    int bytes = Math.multiplyExact(values.length, 4);
    if (staging == null || staging.capacity() < bytes) {
      staging = ByteBuffer.allocateDirect(Math.max(bytes, 4)).order(ByteOrder.LITTLE_ENDIAN);
    }
    staging.clear().limit(bytes);
    FloatBuffer floats = staging.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    floats.put(values);
    allReduce(staging, round, timeout);
    staging.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values, 0, values.length);
  }

  /**
   * Sums the floats of {@code data} (a direct buffer, little-endian floats from index 0 to its limit) with the other
   * members' vectors of the same length, in place. The ring's members call it with the same number of floats, in the
   * same order of rounds; each call is one round, numbered by the caller ({@code round}, carried on the wire for
   * diagnosis). The result is the same on every member, bit for bit.
   *
   * @param timeout how long the round may take, connecting included
   * @throws RingAbortedException when the round did not complete; {@code data} then holds partial sums
   */
  public void allReduce(ByteBuffer data, long round, Duration timeout) throws RingAbortedException {
    if (!data.isDirect() || data.limit() % 4 != 0) {
      throw new IllegalArgumentException("the ring sums a direct buffer of whole floats, not " + data);
    }
    checkUsable();
    if (ring.size() == 1) return;
    long deadlineNs = System.nanoTime() + timeout.toNanos();
    try {
      if (right == null) connect(deadlineNs);
      run(data, round, deadlineNs);
      sequence++;
    } catch (RingAbortedException e) {
      end(e.getMessage());
      throw e;
    } catch (IOException | RuntimeException e) {
      String reason = ended != null ? ended : "round " + round + " of ring epoch " + ring.epoch() + " failed: " + e;
      end(reason);
      throw new RingAbortedException(ring.epoch(), reason, e);
    }
  }

  private void checkUsable() throws RingAbortedException {
    String reason = ended;
    if (reason != null) throw new RingAbortedException(ring.epoch(), "ring epoch " + ring.epoch() + " is over: " + reason);
  }

  private void connect(long deadlineNs) throws IOException, RingAbortedException {
    selector = Selector.open();
    right = SocketChannel.open();
    right.configureBlocking(false);
    right.setOption(StandardSocketOptions.TCP_NODELAY, true);
    if (socketBufferBytes > 0) {
      right.setOption(StandardSocketOptions.SO_SNDBUF, socketBufferBytes);
      right.setOption(StandardSocketOptions.SO_RCVBUF, socketBufferBytes);
    }
    rightKey = right.register(selector, SelectionKey.OP_CONNECT);
    try {
      // Resolved here, on the round's thread, not where the ring was published (a name may need DNS).
      java.net.InetSocketAddress to = ring.right().isUnresolved()
          ? new java.net.InetSocketAddress(ring.right().getHostString(), ring.right().getPort()) : ring.right();
      if (!right.connect(to)) {
        while (!right.finishConnect()) await(deadlineNs, "connecting to the right neighbour at " + ring.right());
      }
    } catch (IOException e) {
      throw new RingAbortedException(ring.epoch(), "cannot connect to the right neighbour at " + ring.right()
          + " (ring epoch " + ring.epoch() + "): " + e.getMessage(), e);
    }
    ByteBuffer hello = RingWire.hello(ring.epoch(), ring.rank(), ring.size());
    rightKey.interestOps(SelectionKey.OP_WRITE);
    while (hello.hasRemaining()) {
      if (right.write(hello) == 0) await(deadlineNs, "greeting the right neighbour at " + ring.right());
    }
    rightKey.interestOps(0);
    try {
      left = endpoint.awaitLeft(ring.epoch(), ring.leftRank(), deadlineNs);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RingAbortedException(ring.epoch(), "interrupted while waiting for the left neighbour", e);
    }
    if (left == null) {
      throw new RingAbortedException(ring.epoch(), "the left neighbour (rank " + ring.leftRank() + " of ring epoch "
          + ring.epoch() + ") did not connect in time");
    }
    if (socketBufferBytes > 0) {
      left.setOption(StandardSocketOptions.SO_SNDBUF, socketBufferBytes);
      left.setOption(StandardSocketOptions.SO_RCVBUF, socketBufferBytes);
    }
    leftKey = left.register(selector, 0);
  }

  /** The round's loop; see the class comment. Data-path code: no allocation per chunk. */
  private void run(ByteBuffer data, long round, long deadlineNs) throws IOException, RingAbortedException {
    long floats = data.limit() / 4;
    RingSchedule schedule = new RingSchedule(ring.size(), ring.rank(), floats);
    int steps = schedule.steps();
    long[] done = new long[steps]; // per step, bytes of the received segment finished (added, or in place)
    ByteBuffer sendView = data.duplicate();
    ByteBuffer receiveView = data.duplicate();
    FloatBuffer dataFloats = data.duplicate().order(ByteOrder.LITTLE_ENDIAN).clear().asFloatBuffer();
    int sendStep = 0;
    boolean sendHeaderDue = true;
    long sent = 0;
    int receiveStep = 0;
    boolean receiveHeaderDue = true;
    long received = 0; // payload bytes read at receiveStep
    receiveHeader.clear();
    scratch.clear();
    while (sendStep < steps || receiveStep < steps) {
      boolean moved = false;
      boolean socketFull = false;
      // Send: the header, then as much of the segment as is final.
      while (sendStep < steps) {
        int segment = schedule.sendSegment(sendStep);
        long segmentBytes = 4 * schedule.segmentLength(segment);
        if (sendHeaderDue) {
          if (sendHeader.position() == 0 || !sendHeader.hasRemaining()) {
            RingWire.header(sendHeader, ring.epoch(), sequence, sendStep, round, (int) segmentBytes);
          }
          long t0 = times != null ? System.nanoTime() : 0;
          right.write(sendHeader);
          if (times != null) times.write += System.nanoTime() - t0;
          if (sendHeader.hasRemaining()) {
            socketFull = true;
            break;
          }
          sendHeader.clear();
          sendHeaderDue = false;
          moved = true;
        }
        long allowed = sendStep == 0 ? segmentBytes : done[sendStep - 1];
        if (sent < allowed) {
          int base = (int) (4 * schedule.segmentStart(segment));
          sendView.limit(base + (int) allowed).position(base + (int) sent);
          long t0 = times != null ? System.nanoTime() : 0;
          int n = right.write(sendView);
          if (times != null) times.write += System.nanoTime() - t0;
          sent += n;
          if (n > 0) moved = true;
          if (sent < allowed) {
            socketFull = true;
            break;
          }
        }
        if (sent < segmentBytes) break; // waits for the bytes still arriving from the left
        sendStep++;
        sendHeaderDue = true;
        sent = 0;
      }
      // Receive: the header, then the segment, added in (reduce-scatter) or in place (all-gather).
      while (receiveStep < steps) {
        int segment = schedule.receiveSegment(receiveStep);
        long segmentBytes = 4 * schedule.segmentLength(segment);
        if (receiveHeaderDue) {
          int n = left.read(receiveHeader);
          if (n < 0) throw closedByLeft(round);
          if (n > 0) moved = true;
          if (receiveHeader.hasRemaining()) break;
          checkHeader(round, receiveStep, segment, segmentBytes);
          receiveHeader.clear();
          receiveHeaderDue = false;
        }
        int base = (int) (4 * schedule.segmentStart(segment));
        if (received < segmentBytes) {
          int n;
          if (schedule.reduces(receiveStep)) {
            int carry = scratch.position();
            scratch.limit((int) Math.min(chunkBytes, carry + (segmentBytes - received)));
            long t0 = times != null ? System.nanoTime() : 0;
            n = left.read(scratch);
            long t1 = times != null ? System.nanoTime() : 0;
            if (n < 0) throw closedByLeft(round);
            received += Math.max(0, n);
            int whole = scratch.position() / 4;
            add(dataFloats, (base + (int) done[receiveStep]) / 4, whole);
            if (times != null) {
              times.read += t1 - t0;
              times.add += System.nanoTime() - t1;
            }
            done[receiveStep] += 4L * whole;
            scratch.limit(scratch.position()).position(4 * whole);
            scratch.compact();
          } else {
            receiveView.limit(base + (int) segmentBytes).position(base + (int) received);
            long t0 = times != null ? System.nanoTime() : 0;
            n = left.read(receiveView);
            if (times != null) times.read += System.nanoTime() - t0;
            if (n < 0) throw closedByLeft(round);
            received += Math.max(0, n);
            done[receiveStep] = received;
          }
          if (n > 0) moved = true;
          if (received < segmentBytes) break;
        }
        receiveStep++;
        receiveHeaderDue = true;
        received = 0;
      }
      if (ended != null) throw new RingAbortedException(ring.epoch(), ended);
      if (moved) continue;
      rightKey.interestOps(socketFull ? SelectionKey.OP_WRITE : 0);
      leftKey.interestOps(receiveStep < steps ? SelectionKey.OP_READ : 0);
      await(deadlineNs, "round " + round + " (step " + Math.min(sendStep, receiveStep) + " of " + steps + ")");
    }
  }

  /**
   * data[at, at+count) += scratch[0, count), through two heap arrays: bulk copies out of and into the direct buffers
   * and a plain loop that the JIT vectorizes are faster than element-wise get and put on a direct FloatBuffer.
   */
  private void add(FloatBuffer dataFloats, int at, int count) {
    for (int from = 0; from < count; from += addLeft.length) {
      int n = Math.min(addLeft.length, count - from);
      dataFloats.get(at + from, addLeft, 0, n);
      scratchFloats.get(from, addRight, 0, n);
      for (int i = 0; i < n; i++) addLeft[i] += addRight[i];
      dataFloats.put(at + from, addLeft, 0, n);
    }
  }

  private void checkHeader(long round, int step, int segment, long segmentBytes) throws RingAbortedException {
    ByteBuffer h = receiveHeader.flip();
    int magic = h.getInt();
    long epoch = h.getLong();
    long seq = h.getLong();
    int theirStep = h.getInt();
    long theirRound = h.getLong();
    int bytes = h.getInt();
    String problem = null;
    if (magic != RingWire.FRAME_MAGIC) {
      problem = "a frame without the ring's magic number";
    } else if (epoch != ring.epoch()) {
      problem = "a frame of ring epoch " + epoch + " on a connection of epoch " + ring.epoch();
    } else if (seq != sequence || theirStep != step) {
      problem = "round " + theirRound + " (sequence " + seq + ", step " + theirStep + ") while this member is at round "
          + round + " (sequence " + sequence + ", step " + step + ")";
    } else if (bytes != segmentBytes) {
      problem = bytes + " bytes for segment " + segment + ", where this member expects " + segmentBytes
          + " (every member must sum a vector of the same length)";
    }
    if (problem != null) {
      throw new RingAbortedException(ring.epoch(), "round " + round + " of ring epoch " + ring.epoch()
          + ": the left neighbour sent " + problem);
    }
  }

  private RingAbortedException closedByLeft(long round) {
    return new RingAbortedException(ring.epoch(), "round " + round + " of ring epoch " + ring.epoch()
        + ": the left neighbour (rank " + ring.leftRank() + ") closed its connection");
  }

  /** Waits for the selector's interests, at most until the deadline. */
  private void await(long deadlineNs, String doing) throws IOException, RingAbortedException {
    long remainingNs = deadlineNs - System.nanoTime();
    if (remainingNs <= 0) {
      throw new RingAbortedException(ring.epoch(), "ring epoch " + ring.epoch() + ": timed out " + doing);
    }
    long t0 = times != null ? System.nanoTime() : 0;
    selector.select(Math.max(1, remainingNs / 1_000_000));
    if (times != null) {
      times.wait += System.nanoTime() - t0;
      times.waits++;
    }
    selector.selectedKeys().clear();
    if (ended != null) throw new RingAbortedException(ring.epoch(), ended);
    if (Thread.currentThread().isInterrupted()) {
      throw new RingAbortedException(ring.epoch(), "ring epoch " + ring.epoch() + ": interrupted " + doing);
    }
  }

  private void end(String reason) {
    if (ended == null) ended = reason;
    DataPlaneEndpoint.quietly(right);
    DataPlaneEndpoint.quietly(left);
    Selector s = selector;
    if (s != null) {
      s.wakeup();
      try {
        s.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }

  /** Time spent per phase since the last call, and resets it; null unless profiling ({@link RingPhaseTimes}). */
  public RingPhaseTimes takePhaseTimes() {
    if (times == null) return null;
    RingPhaseTimes taken = times.copy();
    times.reset();
    return taken;
  }

  /** Ends this epoch on this member: a round in progress aborts, later ones fail. */
  @Override
  public void close() {
    end("closed");
  }
}
