package io.quarry.worker;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.WorkerCommand.MergedHardExamples;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.hardexamples.HardExampleTracker;
import io.quarry.worker.trainer.PayloadRenderer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.agrona.collections.LongHashSet;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What this worker keeps of one run across its shard attempts, until the run is released: the hard-example tracker
 * its trainers offer to, the payloads rendered from the merged buffers, and the run's worker-side counters (two of
 * which are the tracker's; the third adds up what the run's attempts dropped of their telemetry).
 *
 * <p>The tracker is not thread-safe: the training thread offers and the actor thread takes snapshots, so every call
 * holds the tracker's monitor, one uncontended lock per step rather than per sample. The renderer is set from the
 * training thread; everything else is the actor thread's. Renderers run on the payload executor, one job after
 * another per run, so the run receives the answers to its merges in merge order (its final merge waits for them).
 */
final class RunHardExamples implements HardExampleSink {
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

  /**
   * @param k the buffer's capacity ({@code hard-examples.k})
   * @param runWindow {@code hard-examples.window = run}: keep the highest losses of the whole run
   * @param limits {@code quarry.worker.payloads}
   * @param payloadExecutor where renderers run (never an actor or a training thread)
   */
  RunHardExamples(String runId, String workerId, int k, boolean runWindow, PayloadRendering.Limits limits,
      Executor payloadExecutor) {
    this.runId = runId;
    this.workerId = workerId;
    this.tracker = new HardExampleTracker(workerId, k, runWindow);
    this.limits = limits;
    this.payloadExecutor = payloadExecutor;
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

  /** The snapshot of a worker that holds nothing for the run: released, or never trained here. */
  static HardExampleSnapshot emptySnapshot(String runId, int merge, String workerId) {
    return new HardExampleSnapshot(runId, merge, workerId, List.of(), 0, 0, Float.NaN, new byte[0]);
  }

  /**
   * A merged buffer: takes its threshold, then renders the payloads of this worker's entries it has not rendered
   * before (at most {@code max-per-run} over the run) off the actor thread, and sends them to {@code replyTo}. A
   * buffer without entries of this worker is not answered.
   */
  void merged(MergedHardExamples merged) {
    synchronized (tracker) {
      tracker.setThreshold(merged.threshold());
    }
    List<HardExample> own = PayloadRendering.own(merged.entries(), workerId);
    if (own.isEmpty()) return;
    PayloadRenderer renderWith = renderer;
    List<HardExample> entries = renderWith == null
        ? List.of()
        : PayloadRendering.unrendered(own, rendered, limits.maxPerRun());
    int merge = merged.merge();
    ActorRef<RunCommand> replyTo = merged.replyTo();
    // handle, not thenRun: a job that failed must not stop the run's later answers.
    payloadJobs = payloadJobs.handleAsync((previous, failure) -> {
      PayloadRendering.renderAndSend(runId, merge, workerId, entries, renderWith, limits, replyTo::tell);
      return null;
    }, payloadExecutor);
  }

  /**
   * Answers a merged buffer for a run this worker holds nothing of (released, or never trained here): if the buffer
   * has entries of this worker, with the empty last message the run waits for at its final merge.
   */
  static void mergedUntracked(MergedHardExamples merged, String workerId) {
    if (PayloadRendering.own(merged.entries(), workerId).isEmpty()) return;
    merged.replyTo().tell(
        new RunCommand.HardExamplePayloads(merged.runId(), merged.merge(), workerId, List.of(), 0, true));
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
