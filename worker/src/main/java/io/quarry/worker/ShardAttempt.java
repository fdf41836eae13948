package io.quarry.worker;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ParameterChunks;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.telemetry.TelemetryEmitter;
import io.quarry.worker.trainer.PayloadRenderer;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.TrainerContext;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One shard attempt on this worker: the {@link TrainerContext} its trainer talks to on the training thread, and the
 * handle the worker's actor keeps of it. Through the context, per-sample losses go to the run's
 * {@link RunHardExamples}, scalars to the attempt's telemetry, checkpoints to the run, and parameters to the run's
 * averaging rounds (the trainer waits on a {@link PendingAverage} that the actor fills); every report names the
 * attempt and goes to whichever run actor holds it now ({@link #adoptedBy}: a newer coordinator incarnation's after
 * a failover). The attempt observes how far its trainer has come ({@link AttemptProgress}) for the worker's
 * periodic {@link RunCommand.ShardProgressed}, and builds the attempt's final report.
 *
 * <p>Methods of {@link TrainerContext} and {@link HardExampleSink} run on the training thread; the others on the
 * worker's actor thread. What both threads touch is volatile or thread-safe.
 */
final class ShardAttempt implements TrainerContext, HardExampleSink {
  /** For the training thread, which must not use the actor's context. */
  private static final Logger LOG = LoggerFactory.getLogger(ShardAttempt.class);
  /** How often a commit waiting for the coordinator lease looks again. */
  private static final long LEASE_WAIT_POLL_MS = 20;

  private final long token;
  private final String runId;
  private final String workerId;
  private final String device;
  private final RunConfig config;
  private final ShardAssignment assignment;
  private final ActorRef<WorkerCommand> worker;
  private final RunHardExamples hardExamples;
  private final TelemetryEmitter telemetry;
  private final AttemptProgress progress;
  /** The telemetry as the trainer sees it: {@link #telemetry}, observed by {@link #progress}. */
  private final TelemetryEmitter observedTelemetry;
  /** How long the trainer waits for a round's average: twice the run's sync.timeout and the worker's margin. */
  private final Duration averageWait;
  private final Duration syncWaitMargin;
  private final WorkerCommand.AssignShard assign;
  /** Where this try starts (the first of {@code resumePoints}), and where a next try would, newest first. */
  private final List<ResumePoint> resumePoints;

  private volatile ActorRef<RunCommand> run;
  /** The coordinator incarnation whose run actor {@link #run} is. */
  private long runIncarnation;
  private volatile boolean stopRequested;
  /**
   * Why this attempt may write nothing more (no checkpoint, no report of one), or null: its worker lost the
   * coordinator, or was paused longer than the failure detector tolerates, so the run may have given it to another.
   */
  private volatile String fenced;
  /** When the worker last found itself alive and in touch ({@link #renew}); 0 = no pause detection. */
  private volatile long renewedAtNs;
  /** Writes stop once {@link #renewedAtNs} is this old: {@code quarry.worker.max-pause}; 0 = never. */
  private volatile long maxPauseNs;
  /** Whether commits need the coordinator's write lease ({@link #lease}); false in local mode. */
  private volatile boolean leased;
  /** When the newest probe its coordinator's node answered was sent (System.nanoTime); valid once {@link #heard}. */
  private volatile long probeAnsweredNs;
  private volatile boolean heard;
  /** {@code quarry.worker.write-lease}, in ns. */
  private volatile long writeLeaseNs;
  /** When this attempt was made: the lease's lapse counts from here until an answer comes. */
  private final long createdNs = System.nanoTime();
  /** The latest checkpoint report, sent again to a run that adopts the attempt after a failover. */
  private volatile RunCommand.ShardCheckpointed lastCheckpoint;
  /** The averaging round the trainer waits for, or null. */
  private volatile PendingAverage pendingAverage;
  /** The last progress report sent; the actor thread's. */
  private RunCommand.ShardProgressed lastProgress;
  /** The attempt's place on the run's all-reduce ring ({@code sync.transport = ring}, more than one shard), or null. */
  private final RingLink ring;
  private final RingLinks ringLinks;

  /**
   * @param token tells this attempt's messages from an earlier one's
   * @param worker the worker's actor, where the run sends the averages
   * @param config the run's config, parsed
   * @param assign the assignment: the run's id, the shard attempt, and the run actor to report to
   * @param hardExamples the run's hard-example state on this worker
   * @param telemetry the attempt's telemetry, {@link TelemetryEmitter#DISABLED} in fast mode
   * @param syncWaitMargin {@code quarry.worker.sync-wait-margin}
   * @param resumePoints where the attempt may start, newest first ({@link ResumePoint#candidates}): it starts from
   *     the first
   * @param ring opens the attempt's data plane when the run sums on a ring ({@link RingLinks}); null: never
   */
  ShardAttempt(long token, String workerId, String device, ActorRef<WorkerCommand> worker, RunConfig config,
      WorkerCommand.AssignShard assign, RunHardExamples hardExamples, TelemetryEmitter telemetry,
      Duration syncWaitMargin, List<ResumePoint> resumePoints, RingLinks ring) {
    if (resumePoints.isEmpty()) throw new IllegalArgumentException("no resume point, not even the shard's start");
    this.assign = assign;
    this.syncWaitMargin = syncWaitMargin;
    this.resumePoints = List.copyOf(resumePoints);
    this.token = token;
    this.runId = assign.spec().runId();
    this.workerId = workerId;
    this.device = device;
    this.config = config;
    this.assignment = assign.assignment();
    this.worker = worker;
    this.run = assign.run();
    this.runIncarnation = assign.incarnation();
    this.hardExamples = hardExamples;
    this.telemetry = telemetry;
    this.progress = new AttemptProgress(resumePoints.get(0).step());
    this.observedTelemetry = progress.observing(telemetry);
    this.averageWait = config.sync.timeout().multipliedBy(2).plus(syncWaitMargin);
    this.ringLinks = ring;
    this.ring = ring == null ? null : ring.open(config, runId, assignment, this::reportRingAborted);
  }

  /** A round on the ring aborted (the training thread): the run forms a new ring. */
  private void reportRingAborted(io.quarry.worker.collective.RingAbortedException e) {
    LOG.warn("worker {}: all-reduce round aborted on shard {} of run {}: {}; keeping the pre-round values", workerId,
        assignment.shard(), runId, e.getMessage());
    run.tell(new RunCommand.RingAborted(runId, assignment.shard(), assignment.attempt(), workerId, e.epoch(),
        e.getMessage()));
  }

  // ---- the worker's actor thread ----

  long token() {
    return token;
  }

  /** Whether this is attempt {@code attempt} of shard {@code shard} of run {@code runId}. */
  boolean is(String runId, int shard, int attempt) {
    return isShard(runId, shard) && assignment.attempt() == attempt;
  }

  /** Whether this attempt trains shard {@code shard} of run {@code runId}. */
  boolean isShard(String runId, int shard) {
    return this.runId.equals(runId) && assignment.shard() == shard;
  }

  /** Tells the run that the trainer starts, at the step it resumes from. */
  void reportStarted() {
    Path from = resumePoints.get(0).checkpoint();
    run.tell(new RunCommand.ShardStarted(runId, assignment.shard(), assignment.attempt(), workerId,
        resumePoints.get(0).step(), from == null ? null : from.toString()));
    joinRing();
  }

  /** Gives the run this attempt's data-plane address, when it sums on a ring. */
  private void joinRing() {
    if (ring == null) return;
    run.tell(new RunCommand.RingJoin(runId, assignment.shard(), assignment.attempt(), workerId,
        ring.address().getHostString(), ring.address().getPort(), worker));
  }

  /** The run's newest all-reduce ring. */
  void ringFormed(WorkerCommand.RingFormed message) {
    if (ring != null) ring.formed(message);
  }

  /** Tells the run that checkpoint {@code path} of the shard could not be used, and why. */
  void reportUnusable(String path, String reason) {
    run.tell(new RunCommand.CheckpointUnusable(runId, assignment.shard(), assignment.attempt(), workerId, path, reason));
  }

  /** Where this try of the attempt starts. */
  ResumePoint resumePoint() {
    return resumePoints.get(0);
  }

  /**
   * Whether {@code failure} says the checkpoint this try started from cannot be used, before the trainer did anything
   * from it, and an older point is left to try: then the attempt goes on from {@link #fallBack}, and the failure does
   * not count against the shard.
   */
  boolean canFallBack(Throwable failure) {
    return failure instanceof io.quarry.worker.checkpoint.CheckpointException && resumePoints.size() > 1
        && resumePoints.get(0).checkpoint() != null && progress.stepsOffered() == 0
        && progress.step() == resumePoints.get(0).step() && lastCheckpoint == null;
  }

  /** The same attempt, to start again from the next older point ({@code token}: the new try's). */
  ShardAttempt fallBack(long token) {
    if (ring != null) ring.close();
    ShardAttempt next = new ShardAttempt(token, workerId, device, worker, config, assign, hardExamples, telemetry,
        syncWaitMargin, resumePoints.subList(1, resumePoints.size()), ringLinks);
    next.renew(renewedAtNs, maxPauseNs);
    if (leased) next.lease(writeLeaseNs, heard ? probeAnsweredNs : null);
    return next;
  }

  /**
   * A newer coordinator incarnation has recovered the run: reports and telemetry go to {@code newRun} from now on,
   * and it gets the latest checkpoint (the old run actor may have died with it) and the next progress report.
   */
  void adoptedBy(ActorRef<RunCommand> newRun, long incarnation) {
    run = newRun;
    runIncarnation = incarnation;
    telemetry.retarget(newRun);
    lastProgress = null;
    RunCommand.ShardCheckpointed checkpoint = lastCheckpoint;
    if (checkpoint != null) newRun.tell(checkpoint);
    joinRing();
  }

  /**
   * From now on the attempt writes nothing more and its trainer stops within a step: {@code reason} says why (its
   * worker lost the coordinator). Its final report says it stopped.
   */
  void fence(String reason) {
    if (fenced == null) fenced = reason;
    requestStop();
  }

  /** Why the attempt was fenced, or null. */
  String fenced() {
    return fenced;
  }

  /**
   * The worker's actor checks in at {@code nowNs}; a training thread that finds the last check-in older than
   * {@code maxPauseNs} (the JVM was stopped, or starved) writes nothing until the actor has run and decided.
   */
  void renew(long nowNs, long maxPauseNs) {
    this.maxPauseNs = maxPauseNs;
    this.renewedAtNs = nowNs;
  }

  /**
   * The attempt's coordinator lease: it commits checkpoints only while its coordinator's node answered a probe sent
   * less than {@code writeLeaseNs} ago, the newest being sent at {@code probeAnsweredNs} (System.nanoTime; null: none
   * answered yet). {@code writeLeaseNs} 0: no lease (the coordinator is in this JVM, or leases are off).
   */
  void lease(long writeLeaseNs, Long probeAnsweredNs) {
    this.writeLeaseNs = writeLeaseNs;
    if (probeAnsweredNs != null && (!heard || probeAnsweredNs - this.probeAnsweredNs > 0)) {
      this.probeAnsweredNs = probeAnsweredNs;
      heard = true;
    }
    this.leased = writeLeaseNs > 0;
  }

  /**
   * How long at {@code nowNs} the attempt has had no lease from its coordinator's node: since the lease ran out, or
   * since the attempt was made when no probe was answered yet; 0 while it holds one (or needs none).
   */
  long leaseLapsedNs(long nowNs) {
    if (!leased) return 0;
    long until = heard ? probeAnsweredNs + writeLeaseNs : createdNs;
    return Math.max(0, nowNs - until);
  }

  /** When the worker last checked in ({@link #renew}); 0 before the first. */
  long renewedAtNs() {
    return renewedAtNs;
  }

  /** Whether the attempt may still write: not fenced, and its worker checked in recently enough. */
  boolean writesAllowed() {
    if (fenced != null) return false;
    long max = maxPauseNs;
    return max == 0 || renewedAtNs == 0 || System.nanoTime() - renewedAtNs < max;
  }

  /**
   * The training thread asks before it commits a checkpoint: yes while the attempt may write and holds its coordinator
   * lease. Without the lease (its coordinator's node has not answered lately: a partition may have begun) it waits, so
   * that it neither writes nor trains ahead, until an answer renews the lease (yes) or the attempt is fenced or asked
   * to stop (no): the worker fences it once its node finds the coordinator's unreachable, or the lease has been
   * lapsed for 4 x write-lease.
   */
  boolean mayCommit() {
    while (writesAllowed()) {
      if (leaseLapsedNs(System.nanoTime()) == 0) return true;
      if (stopRequested) return false;
      try {
        Thread.sleep(LEASE_WAIT_POLL_MS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return false;
  }

  /** Asks the trainer to stop; one waiting for an averaging round stops waiting (after the flag is set: it checks). */
  void requestStop() {
    stopRequested = true;
    PendingAverage pending = pendingAverage;
    if (pending != null) pending.cancel();
    if (ring != null) ring.wakeUp();
  }

  /** A chunk of the average of round {@code chunk.round()}, if the trainer waits for that round. */
  void averaged(WorkerCommand.AveragedChunk chunk) {
    PendingAverage pending = pendingAverage(chunk.round());
    if (pending != null) pending.accept(chunk.chunk(), chunk.chunks(), chunk.totalLength(), chunk.values());
  }

  /** The run has no average for round {@code failed.round()}. */
  void averagingFailed(WorkerCommand.AveragingFailed failed) {
    PendingAverage pending = pendingAverage(failed.round());
    if (pending != null) pending.fail(failed.reason(), failed.fatal());
  }

  private PendingAverage pendingAverage(long round) {
    PendingAverage pending = pendingAverage;
    return pending != null && pending.round() == round ? pending : null;
  }

  /**
   * Tells the run how far the attempt has come, with the worker's {@code counters} for the run, unless nothing has
   * changed since the last report (or, before the first, since the start: {@link #reportStarted} said that much).
   */
  void reportProgress(RunCounters counters) {
    RunCommand.ShardProgressed report = new RunCommand.ShardProgressed(runId, assignment.shard(),
        assignment.attempt(), workerId, progress.step(), progress.samples(), progress.loss(), counters);
    boolean atStart = report.step() == resumePoints.get(0).step() && report.samples() == 0 && Float.isNaN(report.loss());
    if (lastProgress == null ? atStart : report.equals(lastProgress)) return;
    lastProgress = report;
    run.tell(report);
  }

  /** Step events the attempt's telemetry has dropped so far. */
  long telemetryDropped() {
    return telemetry.droppedEvents();
  }

  /** Ends the attempt's telemetry: completes once it has drained, fails when it has not within {@code timeout}. */
  CompletionStage<Done> endTelemetry(Duration timeout) {
    return telemetry.complete().toCompletableFuture().orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * The attempt's final report: {@code ShardFailed} with the failure's message (and the steps and samples it offered),
   * {@code ShardStopped}, or {@code ShardCompleted}.
   */
  RunCommand.ShardReport finalReport(TrainerRunner.Outcome outcome, RunCounters counters) {
    if (ring != null) ring.close(); // the others' rounds with this attempt abort now, not at their deadline
    int shard = assignment.shard();
    int attempt = assignment.attempt();
    if (fenced != null) {
      // Whatever the trainer made of it (a save refused is an exception to it), the worker stopped it.
      return new RunCommand.ShardStopped(runId, shard, attempt, workerId, progress.step(), progress.stepsOffered(),
          progress.samples(), counters);
    }
    if (outcome.failure() != null) {
      return new RunCommand.ShardFailed(runId, shard, attempt, workerId, reason(outcome.failure()),
          progress.stepsOffered(), progress.samples(), counters);
    }
    ShardResult result = outcome.result();
    if (result.stopped()) {
      return new RunCommand.ShardStopped(runId, shard, attempt, workerId, result.endStep(), result.stepsTrained(),
          result.samplesTrained(), counters);
    }
    return new RunCommand.ShardCompleted(runId, shard, attempt, workerId, result.endStep(), result.stepsTrained(),
        result.samplesTrained(), counters, result.finalLoss(), result.valLoss(), result.valAccuracy());
  }

  private static String reason(Throwable failure) {
    return failure.getMessage() == null ? failure.getClass().getName() : failure.getMessage();
  }

  /** The coordinator incarnation whose run actor the attempt reports to. */
  long runIncarnation() {
    return runIncarnation;
  }

  /** Sends {@code report} to the run actor that holds the attempt now. */
  void report(RunCommand.ShardReport report) {
    run.tell(report);
  }

  // ---- the training thread: TrainerContext ----

  @Override
  public String runId() {
    return runId;
  }

  @Override
  public String workerId() {
    return workerId;
  }

  @Override
  public String device() {
    return device;
  }

  @Override
  public RunConfig config() {
    return config;
  }

  @Override
  public ShardAssignment assignment() {
    return assignment;
  }

  @Override
  public Path checkpointDir() {
    return Path.of(assignment.checkpointDir());
  }

  @Override
  public io.quarry.worker.checkpoint.CheckpointStore checkpointStore() {
    return new io.quarry.worker.checkpoint.CheckpointStore(checkpointDir(),
        io.quarry.worker.checkpoint.CheckpointStore.DEFAULT_KEEP, this::mayCommit);
  }

  @Override
  public Optional<Path> resumeFrom() {
    return Optional.ofNullable(resumePoints.get(0).checkpoint());
  }

  @Override
  public Optional<Path> initFrom() {
    if (config.initFrom == null || resumePoints.get(0).checkpoint() != null) return Optional.empty();
    return Optional.of(InitCheckpoint.find(assignment, config.initFrom));
  }

  @Override
  public boolean stopRequested() {
    return stopRequested;
  }

  @Override
  public HardExampleSink hardExamples() {
    return this;
  }

  @Override
  public TelemetryEmitter telemetry() {
    return observedTelemetry;
  }

  @Override
  public void payloads(PayloadRenderer renderer) {
    hardExamples.renderWith(renderer);
  }

  @Override
  public void offer(long[] sampleIds, float[] losses, int[] labels, int[] predicted, int count, long step) {
    hardExamples.offer(sampleIds, losses, labels, predicted, count, step);
    progress.offered(step, count);
  }

  @Override
  public void checkpointSaved(long step, Path checkpoint) {
    if (fenced != null) return; // written before the fence, but the run has moved on: not reported
    progress.reached(step);
    RunCommand.ShardCheckpointed report = new RunCommand.ShardCheckpointed(runId, assignment.shard(),
        assignment.attempt(), workerId, step, checkpoint.toString());
    lastCheckpoint = report;
    run.tell(report);
  }

  @Override
  public float[] averageParameters(long round, float[] params) throws InterruptedException {
    // A run of one shard has nothing to average with: no round trip.
    if (!config.sync.average() || assignment.shards() <= 1) return params;
    if (ring != null) {
      if (stopRequested) return params;
      float[] average = ring.average(round, params);
      return average == null ? params : average;
    }
    PendingAverage pending = new PendingAverage(round, params.length);
    // Published before the stop flag is read: a stop requested from now on cancels the wait (requestStop).
    pendingAverage = pending;
    try {
      if (stopRequested) return params;
      sendForAveraging(round, params);
      return awaitAverage(pending, params);
    } finally {
      pendingAverage = null;
    }
  }

  /** The parameters to the run, cut as {@link ParameterChunks} says (copies: the trainer keeps its array). */
  private void sendForAveraging(long round, float[] params) {
    float[][] chunks = ParameterChunks.cut(params);
    ActorRef<RunCommand> to = run;
    for (int chunk = 0; chunk < chunks.length; chunk++) {
      to.tell(new RunCommand.SyncChunk(runId, assignment.shard(), assignment.attempt(), workerId, round, chunk,
          chunks.length, params.length, chunks[chunk], worker));
    }
  }

  /** The round's average; {@code params} when none comes in time or the round has none; throws when refused. */
  private float[] awaitAverage(PendingAverage pending, float[] params) throws InterruptedException {
    long round = pending.round();
    float[] average;
    try {
      average = pending.result().get(averageWait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      LOG.warn("worker {}: no average for round {} of shard {} (run {}) within {} ms; going on from the shard's own "
          + "parameters", workerId, round, assignment.shard(), runId, averageWait.toMillis());
      return params;
    } catch (ExecutionException e) {
      throw new IllegalStateException("parameter averaging, round " + round + ": " + e.getCause().getMessage(),
          e.getCause());
    }
    if (average != null) return average;
    if (!stopRequested) {
      LOG.warn("worker {}: no average for round {} of shard {} (run {}): {}", workerId, round, assignment.shard(),
          runId, pending.noAverage());
    }
    return params;
  }

  @Override
  public io.quarry.worker.trainer.GradientRound allReduceGradients(long round, float[] gradients,
      java.util.function.Supplier<float[]> parameters) throws InterruptedException {
    if (!config.sync.allReduce() || ring == null) return io.quarry.worker.trainer.GradientRound.ALONE;
    if (stopRequested) return new io.quarry.worker.trainer.GradientRound(0, null);
    return ring.allReduceGradients(round, gradients, parameters);
  }
}
