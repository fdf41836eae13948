package io.quarry.worker.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RingAllReduceTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  /** The plain loop in the ring's order: segment k summed from member k on, around the ring. */
  private static float[] ringOrderSum(List<float[]> inputs, int length) {
    int n = inputs.size();
    RingSchedule schedule = new RingSchedule(n, 0, length);
    float[] sum = new float[length];
    for (int k = 0; k < n; k++) {
      int start = (int) schedule.segmentStart(k);
      int end = start + (int) schedule.segmentLength(k);
      for (int i = start; i < end; i++) {
        float acc = inputs.get(k)[i];
        for (int j = 1; j < n; j++) acc = acc + inputs.get((k + j) % n)[i];
        sum[i] = acc;
      }
    }
    return sum;
  }

  private static void assertSums(int members, int length) throws Exception {
    List<float[]> in = RingMembers.orderSensitiveInputs(members, length, 31L * members + length);
    try (RingMembers ring = new RingMembers(members)) {
      List<RingMembers.Result> results = ring.round(ring.ring(1), in, 0, TIMEOUT);
      float[] expected = ringOrderSum(in, length);
      for (int rank = 0; rank < members; rank++) {
        RingMembers.Result result = results.get(rank);
        assertNull(result.aborted(), () -> "member " + result + " aborted");
        // Bit for bit: floats compared as their bits, the same on every member.
        assertArrayEquals(expected, result.values(), 0f, "N=" + members + " length=" + length + " rank=" + rank);
      }
      // Against the plain loop 0..N-1 in double: the ring's order only moves the rounding.
      for (int i = 0; i < length; i++) {
        double plain = 0;
        double magnitude = 0;
        for (float[] values : in) {
          plain += values[i];
          magnitude += Math.abs(values[i]);
        }
        assertEquals(plain, results.get(0).values()[i], 1e-6 * magnitude + 1e-30, "element " + i);
      }
    }
  }

  @Test
  void sumsLikeAPlainLoopForOneToFiveMembersAndEveryAwkwardLength() throws Exception {
    for (int members = 1; members <= 5; members++) {
      for (int length : new int[] {0, 1, Math.max(0, members - 1), 7 * members + 3, 100_003}) {
        assertSums(members, length);
      }
    }
  }

  @Test
  void sumsTenMillionFloats() throws Exception {
    assertSums(3, 10_000_000);
  }

  @Test
  void givesTheSameBitsOnEveryMemberAndInEveryRun() throws Exception {
    List<float[]> in = RingMembers.orderSensitiveInputs(4, 50_001, 7);
    float[] first = null;
    for (int run = 0; run < 2; run++) {
      try (RingMembers ring = new RingMembers(4)) {
        List<RingAllReduce> members = ring.ring(1);
        for (int round = 0; round < 3; round++) {
          for (RingMembers.Result result : ring.round(members, in, round, TIMEOUT)) {
            assertNull(result.aborted());
            if (first == null) first = result.values();
            assertArrayEquals(first, result.values(), 0f);
          }
        }
      }
    }
  }

  @Test
  void dropsConnectionsOfAnOldEpoch() throws Exception {
    List<float[]> in = RingMembers.orderSensitiveInputs(2, 10_001, 3);
    try (RingMembers ring = new RingMembers(2)) {
      // A member of epoch 1 connects to member 1 as its left neighbour and sends a frame of garbage.
      try (SocketChannel stale = staleMember(ring.endpoints.get(1).address(), 1)) {
        List<RingMembers.Result> results = ring.round(ring.ring(2), in, 0, TIMEOUT);
        float[] expected = ringOrderSum(in, 10_001);
        for (RingMembers.Result result : results) {
          assertNull(result.aborted());
          assertArrayEquals(expected, result.values(), 0f);
        }
        assertEquals(1, ring.endpoints.get(1).droppedConnections());
        // One of epoch 1 that arrives after the ring of epoch 2 asked for its neighbour is closed at once.
        try (SocketChannel late = SocketChannel.open(ring.endpoints.get(0).address())) {
          late.write(RingWire.hello(1, 1, 2)); // only the hello: the endpoint may close it before more is written
          ByteBuffer probe = ByteBuffer.allocate(1);
          assertEquals(-1, late.read(probe), "the endpoint closes it");
        }
        assertEquals(1, ring.endpoints.get(0).droppedConnections());
      }
    }
  }

  /** Connects as rank 0 of an old epoch and sends a header and payload that no ring may add in. */
  private static SocketChannel staleMember(InetSocketAddress to, long epoch) throws Exception {
    SocketChannel channel = SocketChannel.open(to);
    channel.write(RingWire.hello(epoch, 0, 2));
    ByteBuffer header = ByteBuffer.allocate(RingWire.HEADER_BYTES);
    RingWire.header(header, epoch, 0, 0, 0, 4 * 5000);
    channel.write(header);
    channel.write(ByteBuffer.allocate(4 * 5000));
    return channel;
  }

  @Test
  void aMemberThatDiesMidRoundAbortsEveryOtherAndTheRingReforms() throws Exception {
    int length = 2_000_000;
    List<float[]> in = RingMembers.orderSensitiveInputs(3, length, 11);
    try (RingMembers ring = new RingMembers(3)) {
      List<RingAllReduce> members = ring.ring(5);
      // Member 2 dies mid-round: it greets member 0, sends half of its first segment, and its sockets close.
      Thread dying = new Thread(() -> dieMidRound(ring, 5, length));
      dying.start();
      List<RingMembers.Result> results = ring.round(members.subList(0, 2), in, 0, TIMEOUT);
      dying.join();
      for (int rank = 0; rank < 2; rank++) {
        RingAbortedException aborted = results.get(rank).aborted();
        assertNotNull(aborted, "member " + rank + " went on without member 2");
        // Aborted because a connection closed, not because the deadline passed.
        assertTrue(!aborted.getMessage().contains("timed out"), aborted.getMessage());
        // The caller's vector is as it was before the round.
        assertArrayEquals(in.get(rank), results.get(rank).values(), 0f);
      }
      // Every later round of that epoch fails at once.
      RingAbortedException over = assertThrows(RingAbortedException.class,
          () -> members.get(0).allReduce(new float[length], 1, TIMEOUT));
      assertTrue(over.getMessage().contains("is over"), over.getMessage());
      // The survivors' ring of a new epoch sums.
      List<RingAllReduce> reformed = new ArrayList<>();
      List<InetSocketAddress> survivors = ring.addresses().subList(0, 2);
      for (int rank = 0; rank < 2; rank++) {
        reformed.add(new RingAllReduce(ring.endpoints.get(rank), new RingSpec(6, rank, survivors)));
      }
      List<RingMembers.Result> again = ring.round(reformed, in.subList(0, 2), 1, TIMEOUT);
      float[] expected = ringOrderSum(in.subList(0, 2), length);
      for (RingMembers.Result result : again) {
        assertNull(result.aborted());
        assertArrayEquals(expected, result.values(), 0f);
      }
    }
  }

  /** Rank 2 of a ring of 3: connects, sends half of its step-0 segment, takes its left connection, and dies. */
  private static void dieMidRound(RingMembers ring, long epoch, int length) {
    try {
      RingSchedule schedule = new RingSchedule(3, 2, length);
      int bytes = 4 * (int) schedule.segmentLength(schedule.sendSegment(0));
      try (SocketChannel right = SocketChannel.open(ring.endpoints.get(0).address())) {
        right.write(RingWire.hello(epoch, 2, 3));
        ByteBuffer header = ByteBuffer.allocate(RingWire.HEADER_BYTES);
        RingWire.header(header, epoch, 0, 0, 0, bytes);
        right.write(header);
        right.write(ByteBuffer.allocate(bytes / 2));
        SocketChannel left = ring.endpoints.get(2).awaitLeft(epoch, 1, System.nanoTime() + TIMEOUT.toNanos());
        if (left != null) left.close();
      }
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void aSilentMemberAbortsTheRoundAtItsDeadline() throws Exception {
    List<float[]> in = RingMembers.orderSensitiveInputs(2, 1000, 5);
    try (RingMembers ring = new RingMembers(2)) {
      List<RingAllReduce> members = ring.ring(1);
      // Member 1 connects (as a stopped process's kernel would keep its sockets) but never sends a byte.
      try (SocketChannel silent = SocketChannel.open(ring.endpoints.get(0).address())) {
        silent.write(RingWire.hello(1, 1, 2));
        List<RingMembers.Result> results = ring.round(members.subList(0, 1), in, 0, Duration.ofMillis(500));
        RingAbortedException aborted = results.get(0).aborted();
        assertNotNull(aborted);
        assertTrue(aborted.getMessage().contains("timed out"), aborted.getMessage());
      }
    }
  }

  @Test
  void refusesVectorsOfDifferentLengthsOnBothSides() throws Exception {
    try (RingMembers ring = new RingMembers(2)) {
      List<RingMembers.Result> results = ring.round(ring.ring(1), List.of(new float[10], new float[12]), 0, TIMEOUT);
      for (RingMembers.Result result : results) assertNotNull(result.aborted());
      assertTrue(results.stream().anyMatch(r -> r.aborted().getMessage().contains("the same length")),
          results.get(0).aborted().getMessage() + " / " + results.get(1).aborted().getMessage());
    }
  }
}
