package io.quarry.worker;

import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.ParameterChunks;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand.AssignShard;
import io.quarry.protocol.WorkerCommand.CollectHardExamples;
import io.quarry.protocol.WorkerCommand.CoordinatorAnnounced;
import io.quarry.protocol.WorkerCommand.FromCoordinator;
import io.quarry.protocol.WorkerCommand.MergedHardExamples;
import io.quarry.protocol.WorkerCommand.ReleaseRun;
import io.quarry.protocol.WorkerCommand.StopShard;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.hardexamples.HardExampleTracker;
import io.quarry.worker.telemetry.StreamTelemetryEmitter;
import io.quarry.worker.telemetry.TelemetryEmitter;
import io.quarry.worker.trainer.PayloadRenderer;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerContext;
import io.quarry.worker.trainer.TrainerRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.collections.LongHashSet;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One worker, bound to one device. It registers with the Receptionist, pulls work from the coordinator when
 * idle, trains one shard attempt at a time in a supervised {@link TrainerRunner} child, keeps a hard-example
 * tracker per run, answers the coordinator's all-gathers from it, renders the payloads of its entries that
 * survive a merge, and carries the trainer's parameters to and from the run's averaging rounds. Messages from a
 * coordinator incarnation older than the newest seen are ignored (fencing).
 */
public final class Worker extends AbstractBehavior<WorkerCommand> {
  /** For the training thread, which must not use the actor's context. */
  private static final Logger TRAINING_LOG = LoggerFactory.getLogger(Worker.class);

  /**
   * Stops this worker (a device leaving). Its trainer is asked to stop; the coordinator sees the worker terminate
   * and reassigns its shard.
   */
  public enum Shutdown implements WorkerCommand.Local {
    INSTANCE
  }

  /** The trainer of the current shard attempt ended. */
  private record TrainerEnded(TrainerRunner.Outcome outcome) implements WorkerCommand.Local {}

  /** The current attempt's telemetry stream has drained (or given up); time to report the outcome. */
  private record TelemetryDrained(long token) implements WorkerCommand.Local {}

  /**
   * A run this worker trains for: its tracker (guarded by its own monitor), the last merged buffer, and its
   * hard-example payloads: the trainer's renderer (kept for the run, not the attempt: the final merge comes after
   * the shards have finished), the samples rendered so far, and the tail of the run's rendering jobs, which run one
   * after another so that the run receives the answers to its merges in merge order.
   */
  private static final class RunTracking {
    final HardExampleTracker tracker;
    final AtomicLong stepsTrained = new AtomicLong();
    /** Step events the run's finished attempts on this worker dropped. Only touched on the actor thread. */
    long telemetryDropped;
    volatile List<HardExample> merged = List.of();
    volatile PayloadRenderer renderer;
    /** Only touched on the actor thread. */
    final LongHashSet payloadsRendered = new LongHashSet();
    CompletableFuture<Void> payloadJobs = CompletableFuture.completedFuture(null);

    RunTracking(HardExampleTracker tracker) {
      this.tracker = tracker;
    }
  }

  /** The shard attempt in progress. */
  private static final class CurrentShard {
    final long token;
    final String runId;
    final ShardAssignment assignment;
    /** Where reports go; a new coordinator incarnation that recovers the run replaces it ({@link AdoptShard}). */
    volatile ActorRef<RunCommand> run;
    final TelemetryEmitter telemetry;
    final CompletionStage<Done> telemetryDrained;
    volatile boolean stopRequested;
    /** Steps and samples this attempt handed to the tracker: what a failed attempt reports as trained. */
    final AtomicLong stepsOffered = new AtomicLong();
    final AtomicLong samplesOffered = new AtomicLong();
    /** The attempt's latest checkpoint report, sent again to a run that adopts the attempt after a failover. */
    volatile RunCommand.ShardCheckpointed lastCheckpoint;
    /** The averaging round the trainer waits for, or null. */
    volatile PendingAverage pendingAverage;
    TrainerRunner.Outcome outcome;

    CurrentShard(long token, String runId, ShardAssignment assignment, ActorRef<RunCommand> run,
        TelemetryEmitter telemetry, CompletionStage<Done> telemetryDrained) {
      this.token = token;
      this.runId = runId;
      this.assignment = assignment;
      this.run = run;
      this.telemetry = telemetry;
      this.telemetryDrained = telemetryDrained;
    }
  }

  private final String workerId;
  private final String device;
  private final TrainerRegistry trainers;
  private final Clock clock;
  private final Duration drainTimeout;
  private final Duration ackTimeout;
  private final Duration syncWaitMargin;
  /** This worker's ref, for the training thread (which must not touch the actor's context). */
  private final ActorRef<WorkerCommand> self;
  private final ActorRef<TrainerRunner.Outcome> outcomeAdapter;
  private final Map<String, RunTracking> runs = new HashMap<>();
  private final PayloadRendering.Limits payloadLimits;
  private final Executor payloadExecutor;

  private long incarnation = Long.MIN_VALUE;
  private ActorRef<CoordinatorCommand> coordinator;
  private CurrentShard current;
  /** The last attempt's final report, sent again to every new coordinator incarnation (runs ignore duplicates). */
  private RunCommand.ShardReport lastOutcome;
  private long nextToken;

  private Worker(ActorContext<WorkerCommand> context, String workerId, String device, TrainerRegistry trainers, Clock clock) {
    super(context);
    this.workerId = workerId;
    this.device = device;
    this.trainers = trainers;
    this.clock = clock;
    var config = context.getSystem().settings().config();
    this.drainTimeout = config.getDuration("quarry.worker.telemetry-drain-timeout");
    this.ackTimeout = config.getDuration("quarry.worker.telemetry-ack-timeout");
    this.syncWaitMargin = config.getDuration("quarry.worker.sync-wait-margin");
    this.self = context.getSelf();
    this.payloadLimits = PayloadRendering.Limits.from(config.getConfig("quarry.worker.payloads"));
    this.payloadExecutor = context.getSystem().dispatchers()
        .lookup(DispatcherSelector.fromConfig("quarry.worker.payload-dispatcher"));
    this.outcomeAdapter = context.messageAdapter(TrainerRunner.Outcome.class, TrainerEnded::new);
    context.getSystem().receptionist().tell(Receptionist.register(ServiceKeys.WORKER, context.getSelf()));
  }

  /** A worker with a cluster-unique id, bound to {@code device}, training with the trainers on the class path. */
  public static Behavior<WorkerCommand> create(String workerId, String device) {
    return create(workerId, device, TrainerRegistry.load(), Clock.systemUTC());
  }

  public static Behavior<WorkerCommand> create(String workerId, String device, TrainerRegistry trainers, Clock clock) {
    return Behaviors.setup(context -> new Worker(context, workerId, device, trainers, clock));
  }

  @Override
  public Receive<WorkerCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(CoordinatorAnnounced.class, fenced(this::onCoordinatorAnnounced))
        .onMessage(AssignShard.class, fenced(this::onAssignShard))
        .onMessage(StopShard.class, fenced(this::onStopShard))
        .onMessage(CollectHardExamples.class, fenced(this::onCollectHardExamples))
        .onMessage(MergedHardExamples.class, fenced(this::onMergedHardExamples))
        .onMessage(ReleaseRun.class, fenced(this::onReleaseRun))
        .onMessage(WorkerCommand.AdoptShard.class, fenced(this::onAdoptShard))
        .onMessage(WorkerCommand.AveragedChunk.class, fenced(this::onAveragedChunk))
        .onMessage(WorkerCommand.AveragingFailed.class, fenced(this::onAveragingFailed))
        .onMessage(WorkerCommand.SizeRun.class, fenced(this::onSizeRun))
        .onMessage(TrainerEnded.class, this::onTrainerEnded)
        .onMessage(TelemetryDrained.class, this::onTelemetryDrained)
        .onMessageEquals(Shutdown.INSTANCE, this::onShutdown)
        .onSignal(org.apache.pekko.actor.typed.PostStop.class, signal -> {
          // The trainer thread is not an actor: it only stops when asked.
          if (current != null) requestStop(current);
          return Behaviors.same();
        })
        .build();
  }

  /** Drops messages from a coordinator incarnation older than the newest this worker has seen. */
  private <T extends FromCoordinator> org.apache.pekko.japi.function.Function<T, Behavior<WorkerCommand>> fenced(
      org.apache.pekko.japi.function.Function<T, Behavior<WorkerCommand>> handler) {
    return message -> {
      if (message.incarnation() < incarnation) {
        getContext().getLog().info("worker {}: ignoring {} from stale coordinator incarnation {} (current {})",
            workerId, message.getClass().getSimpleName(), message.incarnation(), incarnation);
        return this;
      }
      return handler.apply(message);
    };
  }

  private Behavior<WorkerCommand> onCoordinatorAnnounced(CoordinatorAnnounced message) {
    boolean newIncarnation = message.incarnation() > incarnation;
    incarnation = message.incarnation();
    coordinator = message.coordinator();
    if (current != null) {
      // Keep training: the run adopts this attempt, or stops it if it has moved on (a new coordinator incarnation,
      // or this worker was taken for lost while it was unreachable and its shard went to another worker).
      ShardAssignment a = current.assignment;
      coordinator.tell(new CoordinatorCommand.ShardInProgress(incarnation, workerId, device, getContext().getSelf(),
          current.runId, a.shard(), a.attempt()));
      return this;
    }
    if (newIncarnation && lastOutcome != null) coordinator.tell(new CoordinatorCommand.Redeliver(incarnation, lastOutcome));
    requestWork();
    return this;
  }

  private Behavior<WorkerCommand> onAdoptShard(WorkerCommand.AdoptShard message) {
    CurrentShard shard = current;
    if (shard == null || !shard.runId.equals(message.runId()) || shard.assignment.shard() != message.shard()
        || shard.assignment.attempt() != message.attempt()) {
      return this;
    }
    getContext().getLog().info("worker {}: shard {} of run {} adopted by coordinator incarnation {}", workerId,
        message.shard(), message.runId(), message.incarnation());
    shard.run = message.run();
    if (shard.telemetry instanceof StreamTelemetryEmitter stream) stream.retarget(message.run());
    // The last checkpoint may have been reported to the old run actor only as it died.
    RunCommand.ShardCheckpointed checkpoint = shard.lastCheckpoint;
    if (checkpoint != null) message.run().tell(checkpoint);
    return this;
  }

  private Behavior<WorkerCommand> onAssignShard(AssignShard message) {
    ShardAssignment assignment = message.assignment();
    String runId = message.spec().runId();
    if (current != null) {
      message.run().tell(new RunCommand.ShardFailed(runId, assignment.shard(), assignment.attempt(), workerId,
          "worker " + workerId + " is busy with shard " + current.assignment.shard() + " of run " + current.runId, 0, 0,
          counters(runs.get(runId), 0)));
      return this;
    }
    RunConfig config;
    Trainer trainer;
    try {
      config = RunConfig.parse(message.spec().configHocon());
      trainer = trainers.get(config.trainer).create(config);
    } catch (RuntimeException e) {
      message.run().tell(new RunCommand.ShardFailed(runId, assignment.shard(), assignment.attempt(), workerId,
          "cannot start trainer: " + e.getMessage(), 0, 0, counters(runs.get(runId), 0)));
      requestWork();
      return this;
    }
    RunTracking tracking = runs.computeIfAbsent(runId, id -> new RunTracking(
        new HardExampleTracker(workerId, config.hardExamples.k(), config.hardExamples.runWindow())));

    long token = ++nextToken;
    TelemetryEmitter telemetry = TelemetryEmitter.DISABLED;
    CompletionStage<Done> drained = CompletableFuture.completedFuture(Done.getInstance());
    if (config.telemetryEnabled()) {
      StreamTelemetryEmitter stream = StreamTelemetryEmitter.start(getContext().getSystem(), config.telemetry,
          message.run(), runId, workerId, assignment.shard(), assignment.attempt(), ackTimeout, clock);
      telemetry = stream;
      drained = stream.completion();
    }
    current = new CurrentShard(token, runId, assignment, message.run(), telemetry, drained);
    TrainerContext context = new ShardContext(runId, config, current, tracking);
    ActorRef<TrainerRunner.Start> runner = getContext().spawn(
        TrainerRunner.create(token, trainer, context, outcomeAdapter),
        "trainer-" + token,
        DispatcherSelector.fromConfig("quarry.worker.trainer-dispatcher"));
    message.run().tell(new RunCommand.ShardStarted(runId, assignment.shard(), assignment.attempt(), workerId,
        assignment.resumeStep()));
    runner.tell(TrainerRunner.Start.INSTANCE);
    return this;
  }

  private Behavior<WorkerCommand> onStopShard(StopShard message) {
    if (current != null && current.runId.equals(message.runId()) && current.assignment.shard() == message.shard()) {
      getContext().getLog().info("worker {}: stopping shard {} of run {}: {}", workerId, message.shard(),
          message.runId(), message.reason());
      requestStop(current);
    }
    return this;
  }

  private Behavior<WorkerCommand> onShutdown() {
    // Now, not in PostStop: this actor only terminates once its trainer child has returned from train().
    if (current != null) requestStop(current);
    return Behaviors.stopped();
  }

  /** Asks the trainer to stop; one waiting for an averaging round stops waiting (after setting the flag: it checks). */
  private static void requestStop(CurrentShard shard) {
    shard.stopRequested = true;
    PendingAverage pending = shard.pendingAverage;
    if (pending != null) pending.cancel();
  }

  private Behavior<WorkerCommand> onAveragedChunk(WorkerCommand.AveragedChunk chunk) {
    PendingAverage pending = pendingAverage(chunk.runId(), chunk.shard(), chunk.attempt(), chunk.round());
    if (pending != null) pending.accept(chunk.chunk(), chunk.chunks(), chunk.totalLength(), chunk.values());
    return this;
  }

  private Behavior<WorkerCommand> onAveragingFailed(WorkerCommand.AveragingFailed failed) {
    PendingAverage pending = pendingAverage(failed.runId(), failed.shard(), failed.attempt(), failed.round());
    if (pending != null) pending.fail(failed.reason(), failed.fatal());
    return this;
  }

  /** The round the current attempt's trainer waits for, if these are its run, shard, attempt and round. */
  private PendingAverage pendingAverage(String runId, int shard, int attempt, long round) {
    CurrentShard shardNow = current;
    if (shardNow == null || !shardNow.runId.equals(runId) || shardNow.assignment.shard() != shard
        || shardNow.assignment.attempt() != attempt) {
      return null;
    }
    PendingAverage pending = shardNow.pendingAverage;
    return pending != null && pending.round() == round ? pending : null;
  }

  private Behavior<WorkerCommand> onCollectHardExamples(CollectHardExamples message) {
    RunTracking tracking = runs.get(message.runId());
    HardExampleSnapshot snapshot;
    if (tracking == null) {
      snapshot = new HardExampleSnapshot(message.runId(), message.merge(), workerId, List.of(), 0, 0, Float.NaN,
          new byte[0], 0);
    } else {
      synchronized (tracking.tracker) {
        snapshot = tracking.tracker.snapshot(message.runId(), message.merge(), tracking.stepsTrained.get());
      }
    }
    message.replyTo().tell(snapshot);
    return this;
  }

  private Behavior<WorkerCommand> onMergedHardExamples(MergedHardExamples message) {
    RunTracking tracking = runs.get(message.runId());
    if (tracking != null) {
      tracking.merged = message.entries();
      synchronized (tracking.tracker) {
        tracking.tracker.setThreshold(message.threshold());
      }
    }
    answerWithPayloads(message, tracking);
    return this;
  }

  /**
   * Renders the payloads of this worker's entries of a merged buffer that it has not rendered before, off the actor
   * thread, and sends them to the run; a worker with no entries in the buffer sends nothing.
   */
  private void answerWithPayloads(MergedHardExamples message, RunTracking tracking) {
    List<HardExample> own = PayloadRendering.own(message.entries(), workerId);
    if (own.isEmpty()) return;
    String runId = message.runId();
    int merge = message.merge();
    ActorRef<RunCommand> replyTo = message.replyTo();
    if (tracking == null) { // released already, or never trained here: nothing to render with
      replyTo.tell(new RunCommand.HardExamplePayloads(runId, merge, workerId, List.of(), 0, true));
      return;
    }
    PayloadRenderer renderer = tracking.renderer;
    List<HardExample> entries = renderer == null
        ? List.of()
        : PayloadRendering.unrendered(own, tracking.payloadsRendered, payloadLimits.maxPerRun());
    PayloadRendering.Limits limits = payloadLimits;
    String worker = workerId;
    // handle, not thenRun: a job that failed must not stop the run's later answers.
    tracking.payloadJobs = tracking.payloadJobs.handleAsync((previous, failure) -> {
      PayloadRendering.renderAndSend(runId, merge, worker, entries, renderer, limits, replyTo::tell);
      return null;
    }, payloadExecutor);
  }

  /**
   * Sizes a submitted run's data with its trainer's spec, off the actor thread (it may read files), and answers the
   * coordinator's admission directly.
   */
  private Behavior<WorkerCommand> onSizeRun(WorkerCommand.SizeRun message) {
    String runId = message.spec().runId();
    CompletableFuture.supplyAsync(() -> RunConfig.parse(message.spec().configHocon()).datasetSamples(), payloadExecutor)
        .whenComplete((samples, failure) -> message.replyTo().tell(samples != null
            ? new WorkerCommand.RunSized(runId, samples, "", workerId)
            : new WorkerCommand.RunSized(runId, -1, sizingError(failure), workerId)));
    return this;
  }

  private static String sizingError(Throwable failure) {
    Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
        ? failure.getCause() : failure;
    return cause instanceof io.quarry.config.RunConfigException ? cause.getMessage()
        : "cannot size the run's data: " + cause;
  }

  private Behavior<WorkerCommand> onReleaseRun(ReleaseRun message) {
    if (current == null || !current.runId.equals(message.runId())) runs.remove(message.runId());
    return this;
  }

  private Behavior<WorkerCommand> onTrainerEnded(TrainerEnded message) {
    CurrentShard shard = current;
    if (shard == null || shard.token != message.outcome().token()) return this;
    shard.outcome = message.outcome();
    CompletionStage<Done> drained = shard.telemetry instanceof StreamTelemetryEmitter stream
        ? stream.complete()
        : shard.telemetryDrained;
    long token = shard.token;
    getContext().pipeToSelf(
        drained.toCompletableFuture().orTimeout(drainTimeout.toMillis(), TimeUnit.MILLISECONDS),
        (done, failure) -> {
          if (failure != null) {
            getContext().getLog().warn("worker {}: telemetry of shard {} did not drain: {}", workerId,
                shard.assignment.shard(), failure.toString());
          }
          return new TelemetryDrained(token);
        });
    return this;
  }

  private Behavior<WorkerCommand> onTelemetryDrained(TelemetryDrained message) {
    CurrentShard shard = current;
    if (shard == null || shard.token != message.token()) return this;
    current = null;
    ShardAssignment a = shard.assignment;
    RunTracking tracking = runs.get(shard.runId);
    tracking.telemetryDropped += shard.telemetry.droppedEvents();
    RunCounters dropped = counters(tracking, 0);
    TrainerRunner.Outcome outcome = shard.outcome;
    ShardResult result = outcome.result();
    if (outcome.failure() != null) {
      String reason = outcome.failure().getMessage() == null
          ? outcome.failure().getClass().getName()
          : outcome.failure().getMessage();
      getContext().getLog().warn("worker {}: shard {} of run {} failed (attempt {}): {}", workerId, a.shard(),
          shard.runId, a.attempt(), reason);
      lastOutcome = new RunCommand.ShardFailed(shard.runId, a.shard(), a.attempt(), workerId, reason,
          shard.stepsOffered.get(), shard.samplesOffered.get(), dropped);
    } else if (result.stopped()) {
      lastOutcome = new RunCommand.ShardStopped(shard.runId, a.shard(), a.attempt(), workerId, result.endStep(),
          result.stepsTrained(), result.samplesTrained(), dropped);
    } else {
      lastOutcome = new RunCommand.ShardCompleted(shard.runId, a.shard(), a.attempt(), workerId, result.endStep(),
          result.stepsTrained(), result.samplesTrained(), dropped, result.finalLoss(), result.valLoss(),
          result.valAccuracy());
    }
    shard.run.tell(lastOutcome);
    requestWork();
    return this;
  }

  /**
   * This worker's running totals of its counters for a run: its tracker's, and the telemetry its attempts dropped
   * ({@code attemptDropped} more for an attempt still running).
   */
  private static RunCounters counters(RunTracking tracking, long attemptDropped) {
    if (tracking == null) return RunCounters.ZERO;
    synchronized (tracking.tracker) {
      return RunCounters.ZERO
          .with(RunCounter.SAMPLES_REJECTED, tracking.tracker.rejectedOffers())
          .with(RunCounter.NONFINITE_LOSSES, tracking.tracker.nanLosses())
          .with(RunCounter.TELEMETRY_DROPPED, tracking.telemetryDropped + attemptDropped);
    }
  }

  private void requestWork() {
    if (coordinator != null) {
      coordinator.tell(new CoordinatorCommand.RequestWork(incarnation, workerId, device, getContext().getSelf()));
    }
  }



  /** What the trainer of one attempt sees; every method is safe on the training thread. */
  private final class ShardContext implements TrainerContext, HardExampleSink {
    private final String runId;
    private final RunConfig config;
    private final CurrentShard shard;
    private final RunTracking tracking;

    ShardContext(String runId, RunConfig config, CurrentShard shard, RunTracking tracking) {
      this.runId = runId;
      this.config = config;
      this.shard = shard;
      this.tracking = tracking;
    }

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
      return shard.assignment;
    }

    @Override
    public Path checkpointDir() {
      return Path.of(shard.assignment.checkpointDir());
    }

    @Override
    public Optional<Path> resumeFrom() {
      return Optional.ofNullable(shard.assignment.resumeFrom()).map(Path::of);
    }

    @Override
    public boolean stopRequested() {
      return shard.stopRequested;
    }

    @Override
    public HardExampleSink hardExamples() {
      return this;
    }

    @Override
    public TelemetryEmitter telemetry() {
      return shard.telemetry;
    }

    @Override
    public List<HardExample> mergedHardExamples() {
      return tracking.merged;
    }

    @Override
    public void checkpointSaved(long step, Path checkpoint) {
      ShardAssignment a = shard.assignment;
      RunCommand.ShardCheckpointed report =
          new RunCommand.ShardCheckpointed(runId, a.shard(), a.attempt(), workerId, step, checkpoint.toString());
      shard.lastCheckpoint = report;
      shard.run.tell(report);
    }

    @Override
    public float[] averageParameters(long round, float[] params) throws InterruptedException {
      // A run of one shard has nothing to average with: no round trip.
      if (!config.sync.average() || shard.assignment.shards() <= 1) return params;
      PendingAverage pending = new PendingAverage(round, params.length);
      // Published before the stop flag is read: a stop requested from now on cancels the wait (requestStop).
      shard.pendingAverage = pending;
      try {
        if (shard.stopRequested) return params;
        ShardAssignment a = shard.assignment;
        ActorRef<RunCommand> run = shard.run;
        int chunks = ParameterChunks.count(params.length);
        for (int chunk = 0; chunk < chunks; chunk++) {
          int start = ParameterChunks.start(chunk);
          float[] values = Arrays.copyOfRange(params, start, start + ParameterChunks.length(params.length, chunk));
          run.tell(new RunCommand.SyncChunk(runId, a.shard(), a.attempt(), workerId, round, chunk, chunks,
              params.length, values, self));
        }
        Duration wait = config.sync.timeout().multipliedBy(2).plus(syncWaitMargin);
        float[] average;
        try {
          average = pending.result().get(wait.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
          TRAINING_LOG.warn("worker {}: no average for round {} of shard {} (run {}) within {} ms; going on from the "
              + "shard's own parameters", workerId, round, a.shard(), runId, wait.toMillis());
          return params;
        } catch (ExecutionException e) {
          throw new IllegalStateException("parameter averaging, round " + round + ": " + e.getCause().getMessage(),
              e.getCause());
        }
        if (average == null) {
          if (!shard.stopRequested) {
            TRAINING_LOG.warn("worker {}: no average for round {} of shard {} (run {}): {}", workerId, round,
                a.shard(), runId, pending.noAverage());
          }
          return params;
        }
        return average;
      } finally {
        shard.pendingAverage = null;
      }
    }

    public void payloads(PayloadRenderer renderer) {
      tracking.renderer = renderer;
    }

    @Override
    public void offer(long[] sampleIds, float[] losses, int[] labels, int[] predicted, int count, long step) {
      // One uncontended lock per step, not per sample: the actor thread takes it only to snapshot for a merge.
      synchronized (tracking.tracker) {
        tracking.tracker.offer(sampleIds, losses, labels, predicted, count, step);
      }
      tracking.stepsTrained.incrementAndGet();
      shard.stepsOffered.incrementAndGet();
      shard.samplesOffered.addAndGet(count);
    }
  }
}
