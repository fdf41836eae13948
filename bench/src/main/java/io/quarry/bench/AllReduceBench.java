package io.quarry.bench;

import io.quarry.worker.collective.DataPlaneEndpoint;
import io.quarry.worker.collective.RingAbortedException;
import io.quarry.worker.collective.RingAllReduce;
import io.quarry.worker.collective.RingPhaseTimes;
import io.quarry.worker.collective.RingSpec;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * bench/allreduce.sh's JVM side, one process per role.
 *
 * <pre>
 *   member RANK WORKERS FLOATS ROUNDS WARMUP PORT_BASE [CHUNK_BYTES [SOCKET_BUFFER_BYTES]]
 *       one ring member on 127.0.0.1:PORT_BASE+RANK; prints "round_ms I T" for every timed round (the time from
 *       calling allReduce to its return, on one direct buffer of FLOATS floats, as the data plane holds parameters)
 *       and, after the last round, "checksum H" (RingInputs: the result checked bit for bit against a plain loop)
 *   aeron-member ipc|udp RANK WORKERS FLOATS ROUNDS WARMUP AERON_DIR PORT_BASE MAX_PARK_NS
 *       the same over Aeron (AeronRingAllReduce) through the media driver of AERON_DIR: aeron:ipc, or aeron:udp with
 *       member r subscribed on 127.0.0.1:PORT_BASE+r; the same "round_ms" and "checksum" lines
 *   aeron-driver AERON_DIR TERM_LENGTH MTU MAX_PARK_NS
 *       the host's media driver for aeron-member (AeronBenchDriver); prints "ready", runs until SIGTERM
 *   bandwidth-server PORT BYTES      receives BYTES on one connection and prints "bandwidth_bytes_per_s B"
 *   bandwidth-client PORT BYTES      sends BYTES from a direct buffer of 1 MiB
 *   bandwidth-ring RANK N PORT_BASE BYTES
 *       one of N JVMs laid out like the ring: listens on PORT_BASE+RANK, sends BYTES to the right neighbour (a thread
 *       of its own) while receiving BYTES from the left; prints "ring_stream_ns START END" (System.nanoTime, one clock
 *       for every process of the machine) from the first byte received to the last
 * </pre>
 */
public final class AllReduceBench {
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  private AllReduceBench() {}

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "member" -> member(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]),
          Integer.parseInt(args[4]), Integer.parseInt(args[5]), Integer.parseInt(args[6]),
          args.length > 7 ? Integer.parseInt(args[7]) : RingAllReduce.DEFAULT_CHUNK_BYTES,
          args.length > 8 ? Integer.parseInt(args[8]) : 0);
      case "aeron-member" -> AeronBenchMember.run(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
          Integer.parseInt(args[4]), Integer.parseInt(args[5]), Integer.parseInt(args[6]), args[7],
          Integer.parseInt(args[8]), Long.parseLong(args[9]));
      case "aeron-driver" -> AeronBenchDriver.run(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]),
          Long.parseLong(args[4]));
      case "bandwidth-ring" -> bandwidthRing(Integer.parseInt(args[1]), Integer.parseInt(args[2]),
          Integer.parseInt(args[3]), Long.parseLong(args[4]));
      case "bandwidth-server" -> bandwidthServer(Integer.parseInt(args[1]), Long.parseLong(args[2]));
      case "bandwidth-client" -> bandwidthClient(Integer.parseInt(args[1]), Long.parseLong(args[2]));
      default -> throw new IllegalArgumentException("unknown mode " + args[0] + "; allowed: member, aeron-member, "
          + "aeron-driver, bandwidth-server, bandwidth-ring, bandwidth-client");
    }
  }

  private static void member(int rank, int workers, int floats, int rounds, int warmup, int portBase, int chunkBytes,
      int socketBufferBytes) throws Exception {
    List<InetSocketAddress> members = new ArrayList<>();
    for (int i = 0; i < workers; i++) members.add(new InetSocketAddress("127.0.0.1", portBase + i));
    ByteBuffer input = RingInputs.input(rank, floats);
    ByteBuffer data = ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.LITTLE_ENDIAN);
    try (DataPlaneEndpoint endpoint = DataPlaneEndpoint.open(members.get(rank));
        RingAllReduce ring = new RingAllReduce(endpoint, new RingSpec(1, rank, members), chunkBytes,
            socketBufferBytes)) {
      awaitListening(members);
      for (int round = 0; round < warmup + rounds; round++) {
        data.clear().put(input.duplicate()).clear();
        // The first round connects; its deadline also covers the other JVMs' start.
        Duration timeout = Duration.ofSeconds(round == 0 ? 120 : 60);
        long cpuStart = THREADS.getCurrentThreadCpuTime();
        long start = System.nanoTime();
        try {
          ring.allReduce(data, round, timeout);
        } catch (RingAbortedException e) {
          System.out.println("aborted " + e.getMessage());
          System.exit(2);
        }
        long ns = System.nanoTime() - start;
        long cpuNs = THREADS.getCurrentThreadCpuTime() - cpuStart;
        RingPhaseTimes phases = ring.takePhaseTimes();
        if (round >= warmup) {
          System.out.printf("round_ms %d %.3f%n", round - warmup, ns / 1e6);
          if (phases != null) System.out.printf("phases %d cpu_ms=%.2f %s%n", round - warmup, cpuNs / 1e6, phases);
        }
      }
      report(data, workers);
    }
  }

  /** Checks the last round's result against the plain loop (exit 3 if it differs) and prints its checksum. */
  static void report(ByteBuffer data, int workers) {
    String wrong = RingInputs.verify(data, workers);
    if (wrong != null) {
      System.out.println("wrong sum: " + wrong);
      System.exit(3);
    }
    System.out.println("checksum " + RingInputs.checksum(data));
  }

  /**
   * Waits until every member's data plane accepts connections: the ring takes a refused connection for a dead
   * neighbour, and the JVMs start at different times. The probes close at once (the endpoints drop them).
   */
  private static void awaitListening(List<InetSocketAddress> members) throws InterruptedException {
    long deadline = System.nanoTime() + 120_000_000_000L;
    for (InetSocketAddress member : members) {
      while (true) {
        try (SocketChannel probe = SocketChannel.open(member)) {
          break;
        } catch (java.io.IOException e) {
          if (System.nanoTime() > deadline) throw new IllegalStateException(member + " never listened", e);
          Thread.sleep(50);
        }
      }
    }
  }

  private static void bandwidthRing(int rank, int n, int portBase, long bytes) throws Exception {
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(new InetSocketAddress("127.0.0.1", portBase + rank));
      System.out.println("listening");
      InetSocketAddress right = new InetSocketAddress("127.0.0.1", portBase + (rank + 1) % n);
      Thread sender = new Thread(() -> {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (true) {
          try (SocketChannel channel = SocketChannel.open(right)) {
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            send(channel, bytes);
            return;
          } catch (java.net.ConnectException e) {
            if (System.nanoTime() > deadline) throw new IllegalStateException(right + " never listened", e);
            try {
              Thread.sleep(20);
            } catch (InterruptedException interrupted) {
              return;
            }
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }
      }, "sender");
      sender.start();
      try (SocketChannel channel = server.accept()) {
        long[] span = receive(channel, bytes);
        System.out.printf("ring_stream_ns %d %d%n", span[0], span[1]);
      }
      sender.join();
    }
  }

  /** Reads {@code bytes}; the nanoTime of the first and of the last byte. */
  private static long[] receive(SocketChannel channel, long bytes) throws java.io.IOException {
    ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
    long got = 0;
    long start = 0;
    while (got < bytes) {
      buffer.clear();
      int n = channel.read(buffer);
      if (n < 0) throw new IllegalStateException("the sender closed after " + got + " of " + bytes + " bytes");
      if (got == 0) start = System.nanoTime();
      got += n;
    }
    return new long[] {start, System.nanoTime()};
  }

  private static void send(SocketChannel channel, long bytes) throws java.io.IOException {
    ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
    long sent = 0;
    while (sent < bytes) {
      buffer.clear();
      if (bytes - sent < buffer.capacity()) buffer.limit((int) (bytes - sent));
      sent += channel.write(buffer);
    }
  }

  private static void bandwidthServer(int port, long bytes) throws Exception {
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(new InetSocketAddress("127.0.0.1", port));
      System.out.println("listening");
      try (SocketChannel channel = server.accept()) {
        long[] span = receive(channel, bytes);
        System.out.printf("bandwidth_bytes_per_s %.0f%n", bytes / ((span[1] - span[0]) / 1e9));
      }
    }
  }

  private static void bandwidthClient(int port, long bytes) throws Exception {
    try (SocketChannel channel = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
      send(channel, bytes);
    }
  }
}
