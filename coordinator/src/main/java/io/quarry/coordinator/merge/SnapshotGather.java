package io.quarry.coordinator.merge;

import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.PartWindow;
import io.quarry.protocol.SnapshotAssembly;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The gather of one merge, as plain logic: each worker's snapshot put back together from its parts
 * ({@link SnapshotAssembly}), the room granted to the workers whose snapshots take many parts, and, for every worker
 * left out, why. A worker counts as answered only once every part of its snapshot has arrived.
 *
 * <p>Reasons a worker is left out, each a line a person reads, by its first word:
 *
 * <ul>
 *   <li>{@code timeout}: no part of its snapshot arrived within {@code hard-examples.merge-timeout};
 *   <li>{@code incomplete}: some parts arrived, not all (within the timeout, or a part was lost: a gap), or its parts
 *       were malformed or held more than K entries;
 *   <li>{@code lost}: the worker was lost while the merge gathered.
 * </ul>
 *
 * What it holds is bounded: at most K entries per worker of the merge, and parts of other merges or of workers not in
 * it are ignored.
 */
public final class SnapshotGather {
  private final int merge;
  private final int k;
  private final Map<String, SnapshotAssembly> assemblies = new LinkedHashMap<>();
  private final Map<String, String> left = new TreeMap<>();

  /**
   * @param merge the merge gathered
   * @param workers the workers asked
   * @param k the run's {@code hard-examples.k}: the most entries one snapshot may hold
   */
  public SnapshotGather(int merge, Collection<String> workers, int k) {
    this.merge = merge;
    this.k = k;
    for (String worker : workers) assemblies.put(worker, null);
  }

  /**
   * Takes one part. Returns the room to grant its worker ({@link io.quarry.protocol.WorkerCommand.SnapshotCredit}'s
   * {@code upTo}), or -1 when none is due.
   */
  public int offer(HardExampleSnapshotPart part) {
    if (part.merge() != merge || !assemblies.containsKey(part.workerId()) || left.containsKey(part.workerId())) {
      return -1;
    }
    SnapshotAssembly assembly = assemblies.get(part.workerId());
    if (assembly == null) {
      assembly = new SnapshotAssembly(k);
      assemblies.put(part.workerId(), assembly);
    }
    SnapshotAssembly.Outcome outcome = assembly.offer(part);
    if (outcome == SnapshotAssembly.Outcome.FAILED) {
      left.put(part.workerId(), "incomplete: " + assembly.failure());
      return -1;
    }
    if (outcome != SnapshotAssembly.Outcome.TAKEN) return -1;
    return PartWindow.creditAfter(assembly.received(), assembly.parts());
  }

  /** The worker was lost: it is left out, and the gather no longer waits for it. */
  public void lost(String workerId, String reason) {
    if (!assemblies.containsKey(workerId) || left.containsKey(workerId)) return;
    SnapshotAssembly assembly = assemblies.get(workerId);
    if (assembly != null && assembly.complete()) return; // its snapshot is in: it takes part in this merge
    left.put(workerId, "lost: " + reason);
  }

  /** True once every worker's snapshot is whole or the worker is left out: nothing more to wait for. */
  public boolean done() {
    for (Map.Entry<String, SnapshotAssembly> worker : assemblies.entrySet()) {
      if (left.containsKey(worker.getKey())) continue;
      if (worker.getValue() == null || !worker.getValue().complete()) return false;
    }
    return true;
  }

  /** The whole snapshots, in the order the workers were asked. */
  public List<HardExampleSnapshot> snapshots() {
    List<HardExampleSnapshot> snapshots = new ArrayList<>();
    assemblies.forEach((worker, assembly) -> {
      if (!left.containsKey(worker) && assembly != null && assembly.complete()) snapshots.add(assembly.snapshot());
    });
    return snapshots;
  }

  /** How many parts each whole snapshot took, by worker. */
  public Map<String, Integer> parts() {
    Map<String, Integer> parts = new TreeMap<>();
    assemblies.forEach((worker, assembly) -> {
      if (!left.containsKey(worker) && assembly != null && assembly.complete()) parts.put(worker, assembly.parts());
    });
    return parts;
  }

  /**
   * Every worker left out, by id, with why; the workers still awaited count as timed out.
   *
   * @param timeout how the merge timeout is named to a person, e.g. {@code hard-examples.merge-timeout = 5s}
   */
  public Map<String, String> missing(String timeout) {
    Map<String, String> missing = new TreeMap<>(left);
    assemblies.forEach((worker, assembly) -> {
      if (missing.containsKey(worker) || (assembly != null && assembly.complete())) return;
      missing.put(worker, assembly == null
          ? "timeout: no answer within " + timeout
          : "incomplete: " + assembly.describe() + " arrived within " + timeout);
    });
    return missing;
  }
}
