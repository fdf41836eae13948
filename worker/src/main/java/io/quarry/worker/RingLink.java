package io.quarry.worker;

import io.quarry.protocol.RingPeer;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.collective.DataPlaneSettings;
import io.quarry.worker.collective.HierarchicalRing;
import io.quarry.worker.collective.RingAbortedException;
import io.quarry.worker.trainer.GradientRound;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One shard attempt's place on its run's all-reduce ring ({@code sync.transport = ring}): its data plane (listening
 * from the attempt's start, shared with the run's other attempts in this JVM ({@link SharedDataPlanes}), which then
 * sum among themselves first and put one member on the ring between JVMs ({@link HierarchicalRing}); the run learns
 * the address from {@link io.quarry.protocol.RunCommand.RingJoin}) and the newest ring the run published
 * ({@link #formed}, on the worker's actor thread). The training thread sums through it
 * ({@link #average}, {@link #allReduceGradients}): it waits for a usable ring at most {@code sync.timeout}; a round
 * that aborts leaves the trainer's arrays as they were and is reported ({@code onAbort}), so the run forms a new ring.
 */
final class RingLink implements AutoCloseable {
  /** This member on one ring epoch: the JVM's shared view of it and this member's rank in the published ring. */
  private record Place(HierarchicalRing ring, int rank) {}

  private final SharedDataPlanes.Plane plane;
  private final DataPlaneSettings settings;
  private final int shard;
  private final int attempt;
  private final Duration timeout;
  private final Consumer<RingAbortedException> onAbort;
  /** Guarded by {@code this}. */
  private Place ring;
  private boolean closed;
  private boolean woken;
  /** The ring of the training thread's last round; closed when it moves to a newer one. */
  private volatile Place inUse;
  /** The training thread's: the epoch whose members' parameters were aligned (allreduce). */
  private long alignedEpoch = Long.MIN_VALUE;

  private RingLink(SharedDataPlanes.Plane plane, DataPlaneSettings settings, int shard, int attempt, Duration timeout,
      Consumer<RingAbortedException> onAbort) {
    this.plane = plane;
    this.settings = settings;
    this.shard = shard;
    this.attempt = attempt;
    this.timeout = timeout;
    this.onAbort = onAbort;
  }

  /**
   * Opens the attempt's data plane on {@code settings.host()}, or on {@code nodeHost} when that is empty.
   *
   * @param timeout the run's {@code sync.timeout}: a round's deadline, and the longest wait for a ring
   */
  static RingLink open(DataPlaneSettings settings, String nodeHost, String runId, int shard, int attempt,
      Duration timeout, Consumer<RingAbortedException> onAbort) throws IOException {
    String host = settings.host().isBlank() ? nodeHost : settings.host();
    SharedDataPlanes.Plane plane = SharedDataPlanes.acquire(runId, host, settings.port());
    return new RingLink(plane, settings, shard, attempt, timeout, onAbort);
  }

  /** Where the other members reach this attempt. */
  InetSocketAddress address() {
    return plane.address();
  }

  /**
   * The run's newest ring (the actor thread). A round in progress on an older ring is left to finish (a member that
   * left because it completed has sent all it had to; one that died breaks its connections, and the round aborts at
   * once): the training thread closes the older ring when it takes the newer one for its next round.
   */
  void formed(WorkerCommand.RingFormed message) {
    int rank = -1;
    List<InetSocketAddress> members = new ArrayList<>();
    for (RingPeer peer : message.members()) {
      if (peer.shard() == shard && peer.attempt() == attempt) rank = members.size();
      members.add(InetSocketAddress.createUnresolved(peer.host(), peer.port()));
    }
    if (rank < 0) return; // not a member: the run has given this attempt up; its own report follows
    // Unresolved: the round's thread resolves its neighbour's name, not this actor thread.
    synchronized (this) {
      if (closed || (ring != null && ring.ring().epoch() >= message.epoch())) return;
      ring = new Place(plane.ring(message.epoch(), members, rank, settings), rank);
      notifyAll();
    }
  }

  /** A stop was requested: a wait for a ring ends now. */
  synchronized void wakeUp() {
    woken = true;
    notifyAll();
  }

  @Override
  public void close() {
    Place last;
    synchronized (this) {
      closed = true;
      last = ring;
      notifyAll();
    }
    // The others' rounds with this member abort now (this JVM's members too: they share the ring object).
    if (last != null) last.ring().close();
    Place used = inUse;
    if (used != null) used.ring().close();
    plane.release();
  }

  /**
   * The mean of the members' {@code values} (a new array), or null when the round aborted or no ring came in time;
   * {@code values} is never changed.
   */
  float[] average(long round, float[] values) throws InterruptedException {
    Place current = awaitRing();
    if (current == null) return null;
    if (current.ring().size() == 1) return values;
    float[] sum = values.clone();
    try {
      current.ring().allReduce(current.rank(), sum, round, timeout);
    } catch (RingAbortedException e) {
      onAbort.accept(e);
      return null;
    }
    divide(sum, current.ring().size());
    return sum;
  }

  /** See {@link io.quarry.worker.trainer.TrainerContext#allReduceGradients}. */
  GradientRound allReduceGradients(long round, float[] gradients, Supplier<float[]> parameters)
      throws InterruptedException {
    Place current = awaitRing();
    if (current == null) return new GradientRound(0, null);
    int size = current.ring().size();
    long epoch = current.ring().epoch();
    float[] aligned = null;
    try {
      if (epoch != alignedEpoch) {
        if (size > 1) {
          // Every member of a new ring does this first, so the rings' rounds stay in step.
          float[] mean = parameters.get().clone();
          current.ring().allReduce(current.rank(), mean, round, timeout);
          divide(mean, size);
          aligned = mean;
        }
        alignedEpoch = epoch;
      }
      if (size == 1) return new GradientRound(1, aligned);
      float[] sum = gradients.clone();
      current.ring().allReduce(current.rank(), sum, round, timeout);
      divide(sum, size);
      System.arraycopy(sum, 0, gradients, 0, sum.length);
      return new GradientRound(size, aligned);
    } catch (RingAbortedException e) {
      onAbort.accept(e);
      return new GradientRound(0, aligned);
    }
  }

  /**
   * The newest ring if it is usable, else waits for a newer one for at most {@code sync.timeout}; null if none. The
   * ring of the last round, when older, is closed now.
   */
  private Place awaitRing() throws InterruptedException {
    Place next = newestUsable();
    Place previous = inUse;
    if (previous != null && (next == null || previous.ring() != next.ring())) previous.ring().close();
    inUse = next;
    return next;
  }

  private synchronized Place newestUsable() throws InterruptedException {
    long deadlineNs = System.nanoTime() + timeout.toNanos();
    while (!closed && !woken) {
      if (ring != null && ring.ring().ended() == null) return ring;
      long waitNs = deadlineNs - System.nanoTime();
      if (waitNs <= 0) return null;
      wait(Math.max(1, waitNs / 1_000_000));
    }
    return null;
  }

  /** Sum to mean: a division per element, as a single shard's mean over its batch would round. */
  private static void divide(float[] values, int members) {
    float n = members;
    for (int i = 0; i < values.length; i++) values[i] = values[i] / n;
  }
}
