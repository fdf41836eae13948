package io.quarry.bench;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.ShutdownSignalBarrier;

/**
 * The host's Aeron media driver for bench/allreduce.sh's Aeron ring ({@code AllReduceBench aeron-driver}), a process of
 * its own that every member on the host connects to (so that {@code aeron:ipc} is shared memory between the member
 * processes). One driver thread ({@link ThreadingMode#SHARED}: conductor, sender and receiver) on a
 * {@link BackoffIdleStrategy} (10 spins, 20 yields, then parks from 1 µs up to {@code maxParkNs}), never a busy spin:
 * this machine has 2 vCPUs for all the members. Term buffers of {@code termLength} for IPC and UDP publications (the
 * IPC publisher may run half a term ahead of its subscriber), {@code mtu} for both (the largest frame, and so the
 * largest message a {@code tryClaim} can write), UDP socket buffers of 4 MiB (the kernel's rmem_max/wmem_max here) and
 * a receiver window of 2 MiB. Prints "ready" once launched; runs until SIGTERM or SIGINT.
 */
final class AeronBenchDriver {
  static final int SOCKET_BUFFER_BYTES = 4 << 20;
  static final int RECEIVER_WINDOW_BYTES = 2 << 20;

  private AeronBenchDriver() {}

  static void run(String aeronDir, int termLength, int mtu, long maxParkNs) {
    MediaDriver.Context context = new MediaDriver.Context()
        .aeronDirectoryName(aeronDir)
        .dirDeleteOnStart(true)
        .dirDeleteOnShutdown(true)
        .threadingMode(ThreadingMode.SHARED)
        .sharedIdleStrategy(new BackoffIdleStrategy(10, 20, 1_000, maxParkNs))
        .ipcTermBufferLength(termLength)
        .publicationTermBufferLength(termLength)
        .ipcMtuLength(mtu)
        .mtuLength(mtu)
        .socketRcvbufLength(SOCKET_BUFFER_BYTES)
        .socketSndbufLength(SOCKET_BUFFER_BYTES)
        .initialWindowLength(RECEIVER_WINDOW_BYTES);
    ShutdownSignalBarrier barrier = new ShutdownSignalBarrier();
    try (MediaDriver driver = MediaDriver.launch(context)) {
      System.out.println("ready " + driver.aeronDirectoryName());
      barrier.await();
    }
  }
}
