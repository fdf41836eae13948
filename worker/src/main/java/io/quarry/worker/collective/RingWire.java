package io.quarry.worker.collective;

import java.nio.ByteBuffer;

/**
 * The bytes on a ring connection. The connecting member first sends a hello ({@link #HELLO_BYTES}: magic, version,
 * epoch, its rank, the ring's size); then, per step of every round, a header ({@link #HEADER_BYTES}: magic, epoch,
 * the round's sequence number in the epoch, the step, the caller's round number, the payload's bytes) and the
 * payload: the floats of one segment, little-endian. Headers are big-endian (ByteBuffer's default).
 */
final class RingWire {
  static final int HELLO_MAGIC = 0x51524E47; // "QRNG"
  static final int FRAME_MAGIC = 0x51524346; // "QRCF"
  static final int VERSION = 1;
  static final int HELLO_BYTES = 4 + 4 + 8 + 4 + 4;
  static final int HEADER_BYTES = 4 + 8 + 8 + 4 + 8 + 4;

  private RingWire() {}

  static ByteBuffer hello(long epoch, int rank, int size) {
    ByteBuffer hello = ByteBuffer.allocate(HELLO_BYTES);
    hello.putInt(HELLO_MAGIC).putInt(VERSION).putLong(epoch).putInt(rank).putInt(size).flip();
    return hello;
  }

  /** Fills {@code header} (cleared, then flipped for writing). */
  static void header(ByteBuffer header, long epoch, long sequence, int step, long round, int payloadBytes) {
    header.clear();
    header.putInt(FRAME_MAGIC).putLong(epoch).putLong(sequence).putInt(step).putLong(round).putInt(payloadBytes);
    header.flip();
  }
}
