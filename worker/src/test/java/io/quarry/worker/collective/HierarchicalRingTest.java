package io.quarry.worker.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Members of one "JVM" share a data plane and a {@link HierarchicalRing}; several such groups (each with its own data
 * plane, all in this test JVM) form the ring between JVMs. Every member runs its rounds on a thread of its own.
 */
class HierarchicalRingTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  record Result(float[] values, RingAbortedException aborted) {}

  /** {@code groups[j]} members in group j; the published ring lists them group after group. */
  private static final class Groups implements AutoCloseable {
    final List<DataPlaneEndpoint> endpoints = new ArrayList<>();
    final List<InetSocketAddress> members = new ArrayList<>();
    final List<Integer> groupOf = new ArrayList<>();
    final ExecutorService threads = Executors.newCachedThreadPool();

    Groups(int... groups) throws Exception {
      for (int j = 0; j < groups.length; j++) {
        DataPlaneEndpoint endpoint = DataPlaneEndpoint.open(new InetSocketAddress("127.0.0.1", 0));
        endpoints.add(endpoint);
        for (int k = 0; k < groups[j]; k++) {
          members.add(endpoint.address());
          groupOf.add(j);
        }
      }
    }

    /** Per member, the ring object its JVM shares (one per group). */
    List<HierarchicalRing> ring(long epoch) {
      List<HierarchicalRing> perGroup = new ArrayList<>();
      List<HierarchicalRing> perMember = new ArrayList<>();
      for (int rank = 0; rank < members.size(); rank++) {
        int group = groupOf.get(rank);
        if (group == perGroup.size()) {
          perGroup.add(new HierarchicalRing(endpoints.get(group), epoch, members, rank, 64 * 1024, 0));
        }
        perMember.add(perGroup.get(group));
      }
      return perMember;
    }

    /** One round on the members in {@code taking} (all when null), each on a copy of its input. */
    List<Result> round(List<HierarchicalRing> ring, List<float[]> inputs, long round, Duration timeout,
        List<Integer> taking) throws Exception {
      List<Future<Result>> futures = new ArrayList<>();
      for (int rank = 0; rank < ring.size(); rank++) {
        if (taking != null && !taking.contains(rank)) continue;
        HierarchicalRing member = ring.get(rank);
        float[] values = inputs.get(rank).clone();
        int self = rank;
        futures.add(threads.submit(() -> {
          try {
            member.allReduce(self, values, round, timeout);
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
  }

  /** Small integers: every order of addition gives the exact sum, so results can be compared with the plain loop. */
  private static List<float[]> integers(int members, int length, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    List<float[]> inputs = new ArrayList<>();
    for (int m = 0; m < members; m++) {
      float[] values = new float[length];
      for (int i = 0; i < length; i++) values[i] = random.nextInt(-1000, 1000);
      inputs.add(values);
    }
    return inputs;
  }

  private static float[] plainSum(List<float[]> inputs, int length) {
    float[] sum = new float[length];
    for (float[] values : inputs) for (int i = 0; i < length; i++) sum[i] += values[i];
    return sum;
  }

  @Test
  void groupsInOneOrSeveralJvmsSumExactlyAndIdenticallyOnEveryMember() throws Exception {
    int[][] layouts = {{3}, {2, 2}, {1, 3}, {2, 1, 2}, {1, 1}};
    for (int[] layout : layouts) {
      for (int length : new int[] {0, 1, 5, 100_003}) {
        try (Groups groups = new Groups(layout)) {
          int members = groups.members.size();
          List<float[]> in = integers(members, length, 17L * members + length);
          List<HierarchicalRing> ring = groups.ring(1);
          float[] expected = plainSum(in, length);
          for (int round = 0; round < 2; round++) {
            List<Result> results = groups.round(ring, in, round, TIMEOUT, null);
            for (Result result : results) {
              assertNull(result.aborted(), () -> java.util.Arrays.toString(layout) + " aborted: " + result.aborted());
              assertArrayEquals(expected, result.values(), 0f, java.util.Arrays.toString(layout) + " length " + length);
            }
          }
          assertEquals(layout.length, ring.get(0).jvms());
          assertEquals(members, ring.get(0).size());
        }
      }
    }
  }

  @Test
  void givesTheSameBitsOnEveryMemberWhenTheOrderMatters() throws Exception {
    float[] first = null;
    for (int run = 0; run < 2; run++) {
      try (Groups groups = new Groups(2, 2)) {
        List<float[]> in = RingMembers.orderSensitiveInputs(4, 50_001, 7);
        List<HierarchicalRing> ring = groups.ring(1);
        for (int round = 0; round < 3; round++) {
          for (Result result : groups.round(ring, in, round, TIMEOUT, null)) {
            assertNull(result.aborted());
            if (first == null) first = result.values();
            assertArrayEquals(first, result.values(), 0f);
          }
        }
        // Within rounding of the plain sum (the order is the JVMs' ring over their local sums).
        float[] plain = plainSum(in, 50_001);
        for (int i = 0; i < plain.length; i++) {
          double magnitude = 0;
          for (float[] values : in) magnitude += Math.abs(values[i]);
          assertEquals(plain[i], first[i], 1e-6 * magnitude + 1e-30, "element " + i);
        }
      }
    }
  }

  @Test
  void aLocalMemberThatNeverComesAbortsTheOthersAtTheDeadlineAndTheEpochStaysOver() throws Exception {
    try (Groups groups = new Groups(2, 1)) {
      List<float[]> in = integers(3, 1000, 3);
      List<HierarchicalRing> ring = groups.ring(1);
      // Rank 1 (the first JVM's second member) never hands in: its leader and the other JVM abort, none hangs.
      List<Result> results = groups.round(ring, in, 0, Duration.ofMillis(500), List.of(0, 2));
      for (Result result : results) assertNotNull(result.aborted(), "a round without rank 1 completed");
      assertNotNull(ring.get(0).ended());
      Result late = groups.round(ring, in, 1, TIMEOUT, List.of(1)).get(0);
      assertNotNull(late.aborted());
      assertTrue(late.aborted().getMessage().contains("is over"), late.aborted().getMessage());
      // A new epoch of the same members works.
      List<HierarchicalRing> next = groups.ring(2);
      for (Result result : groups.round(next, in, 2, TIMEOUT, null)) {
        assertNull(result.aborted());
        assertArrayEquals(plainSum(in, 1000), result.values(), 0f);
      }
    }
  }

  @Test
  void closingTheSharedRingAbortsAWaitingMemberAtOnce() throws Exception {
    try (Groups groups = new Groups(2)) {
      List<float[]> in = integers(2, 10, 5);
      List<HierarchicalRing> ring = groups.ring(1);
      Future<List<Result>> waiting = groups.threads.submit(() -> groups.round(ring, in, 0, TIMEOUT, List.of(0)));
      Thread.sleep(200);
      ring.get(0).close();
      Result result = waiting.get(10, TimeUnit.SECONDS).get(0);
      assertNotNull(result.aborted());
    }
  }
}
