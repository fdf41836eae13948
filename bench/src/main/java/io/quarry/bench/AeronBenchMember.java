package io.quarry.bench;

import io.aeron.Aeron;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.agrona.concurrent.SleepingMillisIdleStrategy;

/**
 * bench/allreduce.sh's Aeron ring member ({@code AllReduceBench aeron-member}): connects to the host's media driver
 * ({@link AeronBenchDriver}), runs WARMUP + ROUNDS rounds of {@link AeronRingAllReduce} on one direct buffer, and
 * prints the same lines as the TCP member: "round_ms I T" per timed round, then "checksum H" after checking the last
 * result bit for bit against a plain loop ({@link RingInputs}).
 */
final class AeronBenchMember {
  static final int STREAM_BASE = 1001;

  private AeronBenchMember() {}

  static void run(String transport, int rank, int workers, int floats, int rounds, int warmup, String aeronDir,
      int portBase, long maxParkNs) throws Exception {
    String toRight;
    String fromLeft;
    switch (transport) {
      case "ipc" -> {
        toRight = "aeron:ipc";
        fromLeft = "aeron:ipc";
      }
      case "udp" -> {
        toRight = "aeron:udp?endpoint=127.0.0.1:" + (portBase + (rank + 1) % workers);
        fromLeft = "aeron:udp?endpoint=127.0.0.1:" + (portBase + rank);
      }
      default -> throw new IllegalArgumentException("unknown Aeron transport " + transport + "; allowed: ipc, udp");
    }
    ByteBuffer input = RingInputs.input(rank, floats);
    ByteBuffer data = ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.LITTLE_ENDIAN);
    // The client conductor (keep-alives, the driver's responses) sleeps 1 ms between duty cycles: off the data path.
    Aeron.Context context = new Aeron.Context().aeronDirectoryName(aeronDir)
        .idleStrategy(new SleepingMillisIdleStrategy(1));
    try (Aeron aeron = Aeron.connect(context);
        AeronRingAllReduce ring = new AeronRingAllReduce(aeron, workers, rank, toRight, fromLeft, STREAM_BASE,
            maxParkNs)) {
      ring.awaitConnected(System.nanoTime() + 120_000_000_000L);
      if (rank == 0) System.out.println("# aeron " + transport + ": " + ring.chunkBytes() + " float bytes per message");
      for (int round = 0; round < warmup + rounds; round++) {
        data.clear().put(input.duplicate()).clear();
        long start = System.nanoTime();
        ring.allReduce(data, round, start + 60_000_000_000L);
        long ns = System.nanoTime() - start;
        if (round >= warmup) System.out.printf("round_ms %d %.3f%n", round - warmup, ns / 1e6);
      }
      AllReduceBench.report(data, workers);
    }
  }
}
