package io.quarry.coordinator.merge;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleParts;
import io.quarry.protocol.PartWindow;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.WorkerCommand.MergedHardExamples;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What goes back to the workers after a merge, as plain logic: not the whole merged buffer to each (K entries to
 * every worker, most of them useless to it), but each worker's share: the threshold, and the merged entries that are
 * its own (the ones it renders payloads for), cut into parts that fit the frame. A share of more than a window of
 * parts goes out as its worker grants room ({@link io.quarry.protocol.RunCommand.MergedCredit}). Only the latest
 * merge's shares are kept: a new merge replaces what an older one had not sent.
 */
public final class MergedShares {
  private final long incarnation;
  private final String runId;
  private final int messageBytes;
  private int merge = -1;
  private final Map<String, PartWindow<MergedHardExamples>> waiting = new HashMap<>();

  /** @param messageBytes the serialized bytes one message may take ({@link io.quarry.protocol.FrameBudget}) */
  public MergedShares(long incarnation, String runId, int messageBytes) {
    this.incarnation = incarnation;
    this.runId = runId;
    this.messageBytes = messageBytes;
  }

  /**
   * The shares of merge {@code merge} for {@code workers}: the parts to send to each now (its first window), by
   * worker id. Every worker gets at least one part, with the threshold.
   */
  public Map<String, List<MergedHardExamples>> start(int merge, List<HardExample> entries, double threshold,
      Collection<String> workers, ActorRef<RunCommand> replyTo) {
    this.merge = merge;
    waiting.clear();
    Map<String, List<HardExample>> own = new HashMap<>();
    for (String worker : workers) own.put(worker, new ArrayList<>());
    for (HardExample entry : entries) {
      List<HardExample> share = own.get(entry.workerId());
      if (share != null) share.add(entry);
    }
    Map<String, List<MergedHardExamples>> now = new LinkedHashMap<>();
    for (String worker : workers) {
      PartWindow<MergedHardExamples> window = new PartWindow<>(HardExampleParts.cutMerged(incarnation, runId, merge,
          threshold, worker, own.get(worker), replyTo, messageBytes));
      now.put(worker, window.first());
      if (!window.done()) waiting.put(worker, window);
    }
    return now;
  }

  /** Worker {@code workerId} has room up to part {@code upTo - 1} of its share of {@code merge}: the parts to send. */
  public List<MergedHardExamples> credit(String workerId, int merge, int upTo) {
    PartWindow<MergedHardExamples> window = merge == this.merge ? waiting.get(workerId) : null;
    if (window == null) return List.of();
    List<MergedHardExamples> next = window.upTo(upTo);
    if (window.done()) waiting.remove(workerId);
    return next;
  }

  /** The worker is gone: nothing more goes to it. */
  public void workerLost(String workerId) {
    waiting.remove(workerId);
  }
}
