package io.quarry.worker.collective;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/** N ring members in this JVM, each with a data plane of its own on 127.0.0.1, each round on a thread of its own. */
final class RingMembers implements AutoCloseable {
  /** What one member's round ended with: its vector, or why it aborted. */
  record Result(float[] values, RingAbortedException aborted) {}

  final List<DataPlaneEndpoint> endpoints = new ArrayList<>();
  private final ExecutorService threads;

  RingMembers(int size) throws Exception {
    for (int i = 0; i < size; i++) endpoints.add(DataPlaneEndpoint.open(new InetSocketAddress("127.0.0.1", 0)));
    threads = Executors.newFixedThreadPool(size + 1);
  }

  List<InetSocketAddress> addresses() {
    List<InetSocketAddress> addresses = new ArrayList<>();
    for (DataPlaneEndpoint endpoint : endpoints) addresses.add(endpoint.address());
    return addresses;
  }

  /** The members' ring of epoch {@code epoch}, in endpoint order. */
  List<RingAllReduce> ring(long epoch) {
    List<RingAllReduce> ring = new ArrayList<>();
    for (int rank = 0; rank < endpoints.size(); rank++) {
      ring.add(new RingAllReduce(endpoints.get(rank), new RingSpec(epoch, rank, addresses()), 64 * 1024, 0));
    }
    return ring;
  }

  /** One round on every member of {@code ring}, each summing a copy of its input. */
  List<Result> round(List<RingAllReduce> ring, List<float[]> inputs, long round, Duration timeout) throws Exception {
    List<Future<Result>> futures = new ArrayList<>();
    for (int rank = 0; rank < ring.size(); rank++) {
      RingAllReduce member = ring.get(rank);
      float[] values = inputs.get(rank).clone();
      futures.add(threads.submit(() -> {
        try {
          member.allReduce(values, round, timeout);
          return new Result(values, null);
        } catch (RingAbortedException e) {
          return new Result(values, e);
        }
      }));
    }
    List<Result> results = new ArrayList<>();
    for (Future<Result> future : futures) results.add(future.get(timeout.toMillis() * 3, TimeUnit.MILLISECONDS));
    return results;
  }

  @Override
  public void close() {
    threads.shutdownNow();
    endpoints.forEach(DataPlaneEndpoint::close);
  }

  /** Values whose sum depends on the order of the additions: wide magnitudes, both signs. */
  static List<float[]> orderSensitiveInputs(int members, int length, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    List<float[]> inputs = new ArrayList<>();
    for (int m = 0; m < members; m++) {
      float[] values = new float[length];
      for (int i = 0; i < length; i++) {
        values[i] = (float) ((random.nextDouble() - 0.5) * Math.pow(10, random.nextInt(-3, 4)));
      }
      inputs.add(values);
    }
    return inputs;
  }
}
