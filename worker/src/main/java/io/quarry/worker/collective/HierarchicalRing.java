package io.quarry.worker.collective;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One ring epoch as seen from one JVM, when several members of the ring live in it (local mode's workers, a worker
 * node with several devices): they share one data plane ({@link DataPlaneEndpoint}, so the ring's published members
 * carry the same address), sum among themselves first, and put one member on the ring between JVMs — hierarchical, as
 * Horovod does on a host.
 *
 * <p>The published ring lists every member, in ring order. Members with the same data-plane address are one JVM's
 * group; the groups, in the order of their first member, form the ring between JVMs, and each group's first member
 * (its leader) is its place on it. Every member computes the same from the published list, so no other message is
 * needed. A round: every local member hands in its vector; the leader adds them in ring order ({@code ((x_a + x_b) +
 * x_c)…}), sums the result with the other JVMs' leaders on the ring ({@link RingAllReduce}: fixed order too), and every
 * local member copies the leader's result, so all members of the ring end with the same bits. With one JVM the ring
 * between JVMs has one member and no byte goes over a socket.
 *
 * <p>Never a hang: a round's deadline holds for every local member (waiting for the others to hand in, for the
 * leader's result); a local member that misses it, a ring round that aborts, or {@link #close} ends this epoch for all
 * local members at once, and their later rounds fail at once, as {@link RingAllReduce}'s do.
 */
public final class HierarchicalRing implements AutoCloseable {
  private final long epoch;
  private final int size;
  /** Flat ranks of this JVM's members, in ring order: index 0 is the leader. */
  private final List<Integer> local;
  /** The ring between JVMs, for the leader; null when this JVM is the whole ring. */
  private final RingAllReduce between;
  private final float[][] inputs;
  /** Guarded by {@code this}. */
  private int arrived;
  private int collected;
  private int departed;
  private boolean distributing;
  private long generation;
  private float[] result;
  private volatile String ended;

  /**
   * @param endpoint this JVM's data plane for the run (shared by its members)
   * @param epoch the ring's epoch
   * @param members every member's data-plane address, in ring order, as published
   * @param self the flat rank of a member in this JVM (its address names the JVM's group)
   */
  public HierarchicalRing(DataPlaneEndpoint endpoint, long epoch, List<InetSocketAddress> members, int self,
      int chunkBytes, int socketBufferBytes) {
    this.epoch = epoch;
    this.size = members.size();
    String own = key(members.get(self));
    List<String> groups = new ArrayList<>();
    List<InetSocketAddress> leaders = new ArrayList<>();
    List<Integer> mine = new ArrayList<>();
    for (int rank = 0; rank < members.size(); rank++) {
      String key = key(members.get(rank));
      if (!groups.contains(key)) {
        groups.add(key);
        leaders.add(members.get(rank));
      }
      if (key.equals(own)) mine.add(rank);
    }
    this.local = List.copyOf(mine);
    this.inputs = new float[local.size()][];
    this.between = leaders.size() == 1 ? null : new RingAllReduce(endpoint,
        new RingSpec(epoch, groups.indexOf(own), leaders), chunkBytes, socketBufferBytes);
  }

  private static String key(InetSocketAddress address) {
    return address.getHostString() + ":" + address.getPort();
  }

  public long epoch() {
    return epoch;
  }

  /** Every member of the ring, in every JVM. */
  public int size() {
    return size;
  }

  /** Members in this JVM. */
  public int localSize() {
    return local.size();
  }

  /** Members on the ring between JVMs (one per JVM). */
  public int jvms() {
    return between == null ? 1 : between.ring().size();
  }

  /** Whether flat rank {@code rank} is one of this JVM's members. */
  public boolean isLocal(int rank) {
    return local.contains(rank);
  }

  /** Why this epoch is over here, or null while it is usable. */
  public String ended() {
    return ended;
  }

  /**
   * Sums {@code values} with every member's, in place; the member of flat rank {@code rank} calls it, once per round,
   * as all members do. On an abort {@code values} may hold partial sums (callers pass a copy).
   */
  public void allReduce(int rank, float[] values, long round, Duration timeout) throws RingAbortedException {
    int index = local.indexOf(rank);
    if (index < 0) throw new IllegalArgumentException("rank " + rank + " is not in this JVM's group " + local);
    long deadlineNs = System.nanoTime() + timeout.toNanos();
    if (local.size() == 1) {
      checkUsable();
      ringRound(values, round, deadlineNs);
      return;
    }
    try {
      if (index == 0) {
        lead(values, round, deadlineNs);
      } else {
        follow(index, values, round, deadlineNs);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      String reason = "round " + round + " of ring epoch " + epoch + ": interrupted";
      end(reason);
      throw new RingAbortedException(epoch, reason, e);
    }
  }

  private void lead(float[] values, long round, long deadlineNs) throws RingAbortedException, InterruptedException {
    synchronized (this) {
      enter(0, values, round, deadlineNs);
      while (arrived < local.size()) {
        checkUsable();
        waitUntil(deadlineNs, round, "waiting for this JVM's other members (ranks " + local + ") to hand in");
      }
    }
    // The others wait; their vectors are not touched until the result is copied back.
    for (int i = 1; i < local.size(); i++) {
      float[] other = inputs[i];
      if (other.length != values.length) {
        String reason = "round " + round + " of ring epoch " + epoch + ": rank " + local.get(i) + " summed "
            + other.length + " floats, rank " + local.get(0) + " " + values.length
            + " (every member must sum a vector of the same length)";
        end(reason);
        throw new RingAbortedException(epoch, reason);
      }
      for (int k = 0; k < values.length; k++) values[k] += other[k];
    }
    ringRound(values, round, deadlineNs);
    synchronized (this) {
      // The members still waiting copy the result now (one that gave up at its deadline has ended the epoch).
      int waiting = arrived - 1 - departed;
      result = values;
      arrived = 0;
      collected = 0;
      departed = 0;
      distributing = true;
      generation++;
      notifyAll();
      while (collected < waiting) wait(100);
      distributing = false;
      result = null;
      java.util.Arrays.fill(inputs, null);
      notifyAll();
    }
  }

  private void follow(int index, float[] values, long round, long deadlineNs)
      throws RingAbortedException, InterruptedException {
    synchronized (this) {
      long generationIn = enter(index, values, round, deadlineNs);
      while (generation == generationIn) {
        if (ended != null) {
          departed++;
          notifyAll();
          checkUsable();
        }
        try {
          waitUntil(deadlineNs, round, "waiting for the result of this JVM's leader (rank " + local.get(0) + ")");
        } catch (RingAbortedException e) {
          departed++;
          notifyAll();
          throw e;
        }
      }
      System.arraycopy(result, 0, values, 0, values.length);
      collected++;
      notifyAll();
    }
  }

  /** Hands {@code values} in (the caller holds the lock); the generation the round will produce the result of. */
  private long enter(int index, float[] values, long round, long deadlineNs)
      throws RingAbortedException, InterruptedException {
    while (distributing) {
      checkUsable();
      waitUntil(deadlineNs, round, "waiting for the previous round's result to be copied");
    }
    checkUsable();
    inputs[index] = values;
    arrived++;
    notifyAll();
    return generation;
  }

  private void ringRound(float[] values, long round, long deadlineNs) throws RingAbortedException {
    if (between == null) return;
    long remainingNs = deadlineNs - System.nanoTime();
    try {
      between.allReduce(values, round, Duration.ofNanos(Math.max(1, remainingNs)));
    } catch (RingAbortedException e) {
      end(e.getMessage());
      throw e;
    }
  }

  /** Waits on this monitor until notified or the deadline; at the deadline the epoch ends here and the round fails. */
  private void waitUntil(long deadlineNs, long round, String doing) throws RingAbortedException, InterruptedException {
    long remainingNs = deadlineNs - System.nanoTime();
    if (remainingNs <= 0) {
      String reason = "round " + round + " of ring epoch " + epoch + ": timed out " + doing;
      end(reason);
      throw new RingAbortedException(epoch, reason);
    }
    wait(Math.max(1, remainingNs / 1_000_000));
  }

  private void checkUsable() throws RingAbortedException {
    String reason = ended;
    if (reason != null) throw new RingAbortedException(epoch, "ring epoch " + epoch + " is over: " + reason);
  }

  private void end(String reason) {
    synchronized (this) {
      if (ended == null) ended = reason;
      notifyAll();
    }
    if (between != null) between.close();
  }

  /** Ends this epoch for every local member: rounds in progress abort, later ones fail. */
  @Override
  public void close() {
    end("closed");
  }
}
