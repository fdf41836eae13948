package io.quarry.worker;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleParts;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.PartSequence;
import io.quarry.protocol.PartWindow;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.WorkerCommand.MergedHardExamples;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.hardexamples.HardExampleTracker;
import io.quarry.worker.trainer.PayloadRenderer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.agrona.collections.LongHashSet;
import org.apache.pekko.actor.typed.ActorRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What this worker keeps of one run across its shard attempts, until the run is released: the hard-example tracker
 * its trainers offer to, the payloads rendered from the merged buffers, and the run's worker-side counters (two of
 * which are the tracker's; the third adds up what the run's attempts dropped of their telemetry).
 *
 * <p>The tracker is not thread-safe: the training thread offers and the actor thread takes snapshots, so every call
 * holds the tracker's monitor, one uncontended lock per step rather than per sample. The renderer is set from the
 * training thread; everything else is the actor thread's. Renderers run on the payload executor, one job after
 * another per run, so the run receives the answers to its merges in merge order (its final merge waits for them).
 *
 * <p>Both directions of the all-gather travel in parts that fit the transport's frame: this worker's snapshot goes out
 * as {@link HardExampleSnapshotPart}s (the parts beyond the first window as the coordinator grants room), and its
 * share of each merged buffer comes in as parts that are put back together here before it is rendered. What it holds
 * for that is bounded by the run's K: one snapshot's parts, and one merge's own entries.
 */
final class RunHardExamples implements HardExampleSink {
  private static final Logger LOG = LoggerFactory.getLogger(RunHardExamples.class);

  private final String runId;
  private final String workerId;
  /** Guarded by its own monitor. */
  private final HardExampleTracker tracker;
  private final PayloadRendering.Limits limits;
  private final Executor payloadExecutor;
  /** Kept for the run, not the attempt: the final merge comes after the shards have finished. */
  private volatile PayloadRenderer renderer;
  private final LongHashSet rendered = new LongHashSet();
  private CompletableFuture<Void> payloadJobs = CompletableFuture.completedFuture(null);
  private long endedAttemptsTelemetryDropped;
  /** The serialized bytes one message may take ({@link io.quarry.protocol.FrameBudget#messageBytes}). */
  private final int messageBytes;
  /** The latest snapshot's parts not sent yet (past the first window), with their merge; null when none wait. */
  private PartWindow<HardExampleSnapshotPart> snapshotParts;
  private int snapshotMerge = -1;
  private ActorRef<HardExampleSnapshotPart> snapshotTo;
  /** This worker's share of the merged buffer being received: its merge, its parts' check, its entries so far. */
  private int receivingMerge = -1;
  private PartSequence receiving;
  private List<HardExample> receivedOwn = new ArrayList<>();

  /**
   * @param k the buffer's capacity ({@code hard-examples.k})
   * @param runWindow {@code hard-examples.window = run}: keep the highest losses of the whole run
   * @param limits {@code quarry.worker.payloads}
   * @param payloadExecutor where renderers run (never an actor or a training thread)
   * @param messageBytes the serialized bytes one message may take on this node's transport
   */
  RunHardExamples(String runId, String workerId, int k, boolean runWindow, PayloadRendering.Limits limits,
      Executor payloadExecutor, int messageBytes) {
    this.runId = runId;
    this.workerId = workerId;
    this.tracker = new HardExampleTracker(workerId, k, runWindow);
    this.limits = limits;
    this.payloadExecutor = payloadExecutor;
    this.messageBytes = messageBytes;
  }

  /** The training thread's path, once per step: see {@link HardExampleTracker#offer}. */
  @Override
  public void offer(long[] sampleIds, float[] losses, int[] labels, int[] predicted, int count, long step) {
    synchronized (tracker) {
      tracker.offer(sampleIds, losses, labels, predicted, count, step);
    }
  }

  /** How this run's hard examples are rendered, from now on (a trainer registers it; a later one replaces it). */
  void renderWith(PayloadRenderer renderer) {
    this.renderer = renderer;
  }

  /** The buffer and the interval's statistics for merge {@code merge}; the tracker starts a new interval. */
  HardExampleSnapshot snapshot(int merge) {
    synchronized (tracker) {
      return tracker.snapshot(runId, merge);
    }
  }

  /**
   * Answers a {@code CollectHardExamples}: the snapshot for merge {@code merge} (the tracker starts a new interval),
   * cut into parts; the first {@link PartWindow#IN_FLIGHT} go to {@code replyTo} now, the rest as the coordinator
   * grants room ({@link #snapshotCredit}). A newer merge's snapshot replaces an older one's unsent parts.
   */
  void sendSnapshot(int merge, ActorRef<HardExampleSnapshotPart> replyTo) {
    PartWindow<HardExampleSnapshotPart> window = new PartWindow<>(HardExampleParts.cut(snapshot(merge), messageBytes));
    window.first().forEach(replyTo::tell);
    snapshotParts = window.done() ? null : window;
    snapshotMerge = merge;
    snapshotTo = replyTo;
  }

  /** The coordinator has room for the parts of merge {@code merge}'s snapshot below {@code upTo}: sends them. */
  void snapshotCredit(int merge, int upTo) {
    if (snapshotParts == null || merge != snapshotMerge) return; // an old merge's grant, or nothing waits
    snapshotParts.upTo(upTo).forEach(snapshotTo::tell);
    if (snapshotParts.done()) snapshotParts = null;
  }

  /** The snapshot of a worker that holds nothing for the run: released, or never trained here. */
  static HardExampleSnapshot emptySnapshot(String runId, int merge, String workerId) {
    return new HardExampleSnapshot(runId, merge, workerId, List.of(), 0, 0, Float.NaN, new byte[0]);
  }

  /**
   * A part of this worker's share of a merged buffer. The first part of a merge sets the tracker's threshold (every
   * part carries it) and drops what was left of an older merge's parts. Once the share is whole, the payloads of its
   * entries not rendered before (at most {@code max-per-run} over the run) are rendered off the actor thread and sent
   * to {@code replyTo}; a share without entries is not answered. A part after a gap (parts were lost) ends the share
   * with what arrived, so the run is not kept waiting for payloads that cannot come.
   */
  void merged(MergedHardExamples part) {
    if (part.merge() != receivingMerge) {
      if (part.merge() < receivingMerge) return; // an older merge's part, after a newer one began
      receivingMerge = part.merge();
      receiving = new PartSequence();
      receivedOwn = new ArrayList<>();
      synchronized (tracker) {
        tracker.setThreshold(part.threshold());
      }
    }
    if (receiving == null) return; // this merge's share is over
    PartSequence.Verdict verdict = receiving.offer(part.part(), part.parts());
    switch (verdict) {
      case DUPLICATE:
        return;
      case GAP:
      case MALFORMED:
        LOG.warn("worker {}: merge {} of run {}: part {} of {} of its merged entries came after {} ({}); rendering "
            + "the {} entries that arrived", workerId, part.merge(), runId, part.part(), part.parts(),
            receiving.describe(), verdict == PartSequence.Verdict.GAP ? "parts were lost" : "numbering differs",
            receivedOwn.size());
        finishShare(part.merge(), part.ownEntries(), part.replyTo());
        return;
      default:
        break;
    }
    for (HardExample entry : part.entries()) {
      if (workerId.equals(entry.workerId()) && receivedOwn.size() < tracker.capacity()) receivedOwn.add(entry);
    }
    int credit = PartWindow.creditAfter(receiving.received(), part.parts());
    if (credit > 0) part.replyTo().tell(new RunCommand.MergedCredit(runId, part.merge(), workerId, credit));
    if (verdict == PartSequence.Verdict.LAST) finishShare(part.merge(), part.ownEntries(), part.replyTo());
  }

  /** This worker's share of merge {@code merge} is over: renders what it holds, and answers if it had any. */
  private void finishShare(int merge, int ownEntries, ActorRef<RunCommand> replyTo) {
    List<HardExample> own = receivedOwn;
    receiving = null;
    receivedOwn = new ArrayList<>();
    if (own.isEmpty() && ownEntries == 0) return;
    PayloadRenderer renderWith = renderer;
    List<HardExample> entries = renderWith == null
        ? List.of()
        : PayloadRendering.unrendered(own, rendered, limits.maxPerRun());
    // handle, not thenRun: a job that failed must not stop the run's later answers.
    payloadJobs = payloadJobs.handleAsync((previous, failure) -> {
      PayloadRendering.renderAndSend(runId, merge, workerId, entries, renderWith, limits, replyTo::tell);
      return null;
    }, payloadExecutor);
  }

  /**
   * Answers a part of a merged buffer for a run this worker holds nothing of (released, or never trained here): at the
   * first part of a share with entries, the empty last message the run waits for at its final merge.
   */
  static void mergedUntracked(MergedHardExamples part, String workerId) {
    if (part.part() != 0 || part.ownEntries() == 0) return;
    part.replyTo().tell(new RunCommand.HardExamplePayloads(part.runId(), part.merge(), workerId, List.of(), 0, true));
  }

  /** One of the run's attempts on this worker has ended, having dropped {@code telemetryDropped} step events. */
  void attemptEnded(long telemetryDropped) {
    endedAttemptsTelemetryDropped += telemetryDropped;
  }

  /**
   * This worker's running totals of its counters for the run ({@link RunCounter.Side#WORKER}).
   *
   * @param runningAttemptTelemetryDropped what the run's attempt still running here has dropped so far; 0 if none
   */
  RunCounters counters(long runningAttemptTelemetryDropped) {
    long rejected;
    long nonFinite;
    synchronized (tracker) {
      rejected = tracker.rejectedOffers();
      nonFinite = tracker.nonFiniteLosses();
    }
    return RunCounters.ZERO
        .with(RunCounter.SAMPLES_REJECTED, rejected)
        .with(RunCounter.NONFINITE_LOSSES, nonFinite)
        .with(RunCounter.TELEMETRY_DROPPED, endedAttemptsTelemetryDropped + runningAttemptTelemetryDropped);
  }
}
