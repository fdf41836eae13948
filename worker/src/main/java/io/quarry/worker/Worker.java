package io.quarry.worker;

import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.FrameBudget;
import io.quarry.protocol.HardExampleParts;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand.AdoptShard;
import io.quarry.protocol.WorkerCommand.AssignShard;
import io.quarry.protocol.WorkerCommand.AveragedChunk;
import io.quarry.protocol.WorkerCommand.AveragingFailed;
import io.quarry.protocol.WorkerCommand.CollectHardExamples;
import io.quarry.protocol.WorkerCommand.CoordinatorAnnounced;
import io.quarry.protocol.WorkerCommand.FromCoordinator;
import io.quarry.protocol.WorkerCommand.MergedHardExamples;
import io.quarry.protocol.WorkerCommand.ReleaseRun;
import io.quarry.protocol.WorkerCommand.RingFormed;
import io.quarry.protocol.WorkerCommand.SizeRun;
import io.quarry.protocol.WorkerCommand.SnapshotCredit;
import io.quarry.protocol.WorkerCommand.StopShard;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.telemetry.StreamTelemetryEmitter;
import io.quarry.worker.telemetry.TelemetryEmitter;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerRegistry;
import io.quarry.worker.trainer.process.ProgramsFirst;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.japi.function.Function;

/**
 * One worker, bound to one device. It registers with the Receptionist, pulls work from the coordinator when idle and
 * trains one {@link ShardAttempt} at a time in a supervised {@link TrainerRunner} child, reporting the attempt's
 * progress every {@code quarry.worker.progress-interval}. It keeps each run's hard examples ({@link RunHardExamples})
 * across attempts for the run's all-gathers, carries averages back to a waiting trainer, and sizes runs' data for the
 * coordinator. Messages from a coordinator incarnation older than the newest seen are ignored (fencing).
 */
public final class Worker extends AbstractBehavior<WorkerCommand> {
  /**
   * Stops this worker (a device leaving). Its trainer is asked to stop; the coordinator sees the worker terminate
   * and reassigns its shard.
   */
  public enum Shutdown implements WorkerCommand.Local {
    INSTANCE
  }

  /** Time to report the host's load ({@code quarry.worker.host-report-interval}). */
  private enum HostTick implements WorkerCommand.Local {
    INSTANCE
  }

  /** The host's load, sampled off the actor's thread. */
  private record HostSampled(io.quarry.protocol.HostLoad load) implements WorkerCommand.Local {}

  /** Time to report the running attempt's progress. */
  private enum ProgressTick implements WorkerCommand.Local {
    INSTANCE
  }

  /** Time to check in: the running attempt may go on writing, unless this worker was paused too long. */
  private enum LeaseTick implements WorkerCommand.Local {
    INSTANCE
  }

  /**
   * Stop the running attempt at once and let it write nothing more: this worker can no longer count on being the
   * one that trains it (its node is leaving the cluster, or was downed). Its final report says it stopped.
   */
  public record Fence(String reason) implements WorkerCommand.Local {}

  /**
   * The cluster node at {@code address} (as {@code Address.toString()} writes it) is unreachable from this worker's
   * node. When it is the coordinator's node, the coordinator is about to take this worker for lost (the failure
   * detector is alike on both sides) and give its shard to another: the running attempt is fenced.
   */
  public record NodeUnreachable(String address) implements WorkerCommand.Local {}

  /**
   * The cluster node at {@code address} answered a probe that this worker's node sent at {@code probeSentNs}
   * ({@code System.nanoTime()}). When it is the coordinator's node, the running attempt holds its write lease until
   * {@code probeSentNs + quarry.worker.write-lease}: the answer proves the two could talk at {@code probeSentNs}.
   */
  public record NodeAnswered(String address, long probeSentNs) implements WorkerCommand.Local {}

  /** The trainer of the current shard attempt ended. */
  private record TrainerEnded(TrainerRunner.Outcome outcome) implements WorkerCommand.Local {}

  /** The ended attempt's telemetry has drained, or gave up ({@code failure}); time to report the outcome. */
  private record TelemetryDrained(TrainerRunner.Outcome outcome, Throwable failure) implements WorkerCommand.Local {}

  private final String workerId;
  private final String device;
  private final TrainerRegistry trainers;
  private final Clock clock;
  private final WorkerSettings settings;
  private final TimerScheduler<WorkerCommand> timers;
  private final ActorRef<TrainerRunner.Outcome> outcomeAdapter;
  private final Executor payloadExecutor;
  private final Executor sizingExecutor;
  private final Map<String, RunHardExamples> runs = new HashMap<>();
  private final RunPermissions permissions;
  /** The serialized bytes one message may take on this node's transport (its frame, less the envelope's headroom). */
  private final int messageBytes;
  /** Per node address, when the newest probe it answered was sent (System.nanoTime): the write lease's source. */
  private final Map<String, Long> probesAnswered = new HashMap<>();
  /** Opens the data plane of attempts whose run sums on an all-reduce ring. */
  private final RingLinks ringLinks;

  private long incarnation = Long.MIN_VALUE;
  private ActorRef<CoordinatorCommand> coordinator;
  /** The attempt in progress (its trainer running, or its telemetry draining), or null. */
  private ShardAttempt current;
  /** The last attempt's final report, sent again to every new coordinator incarnation (runs ignore duplicates). */
  private RunCommand.ShardReport lastOutcome;
  private long nextToken;

  private Worker(ActorContext<WorkerCommand> context, TimerScheduler<WorkerCommand> timers, String workerId,
      String device, TrainerRegistry trainers, Clock clock) {
    super(context);
    this.workerId = workerId;
    this.device = device;
    this.trainers = trainers;
    this.clock = clock;
    this.timers = timers;
    this.messageBytes = FrameBudget.messageBytes(context.getSystem().settings().config());
    this.settings = WorkerSettings.from(context.getSystem().settings().config().getConfig("quarry.worker"))
        .fitTo(messageBytes);
    ProgramsFirst.configure(settings.programsFirst());
    this.payloadExecutor = executor(WorkerSettings.PAYLOAD_DISPATCHER);
    this.sizingExecutor = executor(WorkerSettings.SIZING_DISPATCHER);
    this.outcomeAdapter = context.messageAdapter(TrainerRunner.Outcome.class, TrainerEnded::new);
    this.ringLinks = new RingLinks(io.quarry.worker.collective.DataPlaneSettings.from(
        context.getSystem().settings().config().getConfig("quarry.worker.data-plane")),
        context.getSystem().address().getHost().orElse("127.0.0.1"));
    this.permissions = new RunPermissions(settings.allowance(), System.getenv("PATH"), Path.of("").toAbsolutePath());
    context.getSystem().receptionist().tell(Receptionist.register(ServiceKeys.WORKER, context.getSelf()));
    if (!settings.maxPause().isZero()) {
      timers.startTimerWithFixedDelay(LeaseTick.INSTANCE, settings.maxPause().dividedBy(4));
    }
    if (!settings.hostReportInterval().isZero()) {
      timers.startTimerWithFixedDelay(HostTick.INSTANCE, settings.hostReportInterval());
    }
  }

  /** A worker with a cluster-unique id, bound to {@code device}, training with the trainers on the class path. */
  public static Behavior<WorkerCommand> create(String workerId, String device) {
    return create(workerId, device, TrainerRegistry.load(), Clock.systemUTC());
  }

  /** A worker training with {@code trainers}, its telemetry timestamped by {@code clock}. */
  public static Behavior<WorkerCommand> create(String workerId, String device, TrainerRegistry trainers, Clock clock) {
    return Behaviors.setup(context -> Behaviors.withTimers(
        timers -> new Worker(context, timers, workerId, device, trainers, clock)));
  }

  private Executor executor(String dispatcher) {
    return getContext().getSystem().dispatchers().lookup(DispatcherSelector.fromConfig(dispatcher));
  }

  @Override
  public Receive<WorkerCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(CoordinatorAnnounced.class, fenced(this::onCoordinatorAnnounced))
        .onMessage(AssignShard.class, fenced(this::onAssignShard))
        .onMessage(AdoptShard.class, fenced(this::onAdoptShard))
        .onMessage(StopShard.class, fenced(this::onStopShard))
        .onMessage(CollectHardExamples.class, fenced(this::onCollectHardExamples))
        .onMessage(SnapshotCredit.class, fenced(this::onSnapshotCredit))
        .onMessage(MergedHardExamples.class, fenced(this::onMergedHardExamples))
        .onMessage(ReleaseRun.class, fenced(this::onReleaseRun))
        .onMessage(AveragedChunk.class, fenced(this::onAveragedChunk))
        .onMessage(AveragingFailed.class, fenced(this::onAveragingFailed))
        .onMessage(SizeRun.class, fenced(this::onSizeRun))
        .onMessage(RingFormed.class, fenced(this::onRingFormed))
        .onMessageEquals(ProgressTick.INSTANCE, this::onProgressTick)
        .onMessageEquals(LeaseTick.INSTANCE, this::onLeaseTick)
        .onMessageEquals(HostTick.INSTANCE, this::onHostTick)
        .onMessage(HostSampled.class, this::onHostSampled)
        .onMessage(Fence.class, this::onFence)
        .onMessage(NodeUnreachable.class, this::onNodeUnreachable)
        .onMessage(NodeAnswered.class, this::onNodeAnswered)
        .onMessage(TrainerEnded.class, this::onTrainerEnded)
        .onMessage(TelemetryDrained.class, this::onTelemetryDrained)
        .onMessageEquals(Shutdown.INSTANCE, this::onShutdown)
        .onSignal(PostStop.class, this::onPostStop)
        .build();
  }

  /** Drops messages from a coordinator incarnation older than the newest this worker has seen. */
  private <T extends FromCoordinator> Function<T, Behavior<WorkerCommand>> fenced(
      Function<T, Behavior<WorkerCommand>> handler) {
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
    lease(current);
    // A fenced attempt is stopping and writes nothing more: it is not offered for adoption. Once it ends, its final
    // report goes to the new coordinator as a redelivery (the run requeues the shard, or counts a stale attempt's
    // steps) and the worker asks for work.
    if (current != null && current.fenced() != null) return this;
    if (current != null) {
      // Keep training: the run adopts this attempt, or stops it if it has moved on (a new coordinator incarnation,
      // or this worker was taken for lost while it was unreachable and its shard went to another worker).
      ShardAssignment a = current.assignment();
      coordinator.tell(new CoordinatorCommand.ShardInProgress(incarnation, workerId, device, getContext().getSelf(),
          current.runId(), a.shard(), a.attempt(), settings.allowance()));
    } else {
      if (newIncarnation && lastOutcome != null) {
        coordinator.tell(new CoordinatorCommand.Redeliver(incarnation, lastOutcome));
      }
      requestWork();
    }
    return this;
  }

  private Behavior<WorkerCommand> onAssignShard(AssignShard message) {
    if (current != null) {
      refuse(message, "worker " + workerId + " is busy with shard " + current.assignment().shard() + " of run "
          + current.runId());
      return this;
    }
    RunConfig config;
    Trainer trainer;
    try {
      config = RunConfig.parse(message.spec().configHocon());
    } catch (RuntimeException e) {
      refuse(message, "cannot start trainer: " + e.getMessage());
      requestWork();
      return this;
    }
    java.util.Optional<String> refusal = permissions.refusal(config);
    if (refusal.isPresent()) {
      getContext().getLog().warn("worker {}: refusing run {}: {}", workerId, message.spec().runId(), refusal.get());
      ShardAssignment a = message.assignment();
      message.run().tell(new RunCommand.ShardRefused(message.spec().runId(), a.shard(), a.attempt(), workerId,
          refusal.get()));
      requestWork();
      return this;
    }
    try {
      trainer = trainers.get(config.trainer).create(config);
    } catch (RuntimeException e) {
      refuse(message, "cannot start trainer: " + e.getMessage());
      requestWork();
      return this;
    }
    // Rank 0 of a process group: its program hosts the rendezvous, on a port of this host the run learns first.
    try {
      message = RankZero.hostRendezvous(message, workerId,
          getContext().getSystem().address().getHost().orElse("127.0.0.1"));
    } catch (java.io.UncheckedIOException e) {
      refuse(message, e.getMessage() + ": " + e.getCause().getMessage());
      requestWork();
      return this;
    }
    try {
      start(message, config, trainer);
    } catch (java.io.UncheckedIOException e) { // the attempt's data plane could not listen
      refuse(message, e.getMessage());
      requestWork();
    }
    return this;
  }

  /** Fails an assignment that this worker cannot take on. */
  private void refuse(AssignShard message, String reason) {
    String runId = message.spec().runId();
    ShardAssignment a = message.assignment();
    message.run().tell(new RunCommand.ShardFailed(runId, a.shard(), a.attempt(), workerId, reason, 0, 0,
        counters(runId)));
  }

  /** Starts the attempt's trainer in a child of its own, on a thread of its own. */
  private void start(AssignShard message, RunConfig config, Trainer trainer) {
    String runId = message.spec().runId();
    RunHardExamples hardExamples = runs.computeIfAbsent(runId, id -> new RunHardExamples(id, workerId,
        config.hardExamples.k(), config.hardExamples.runWindow(), settings.payloads(), payloadExecutor, messageBytes));
    List<ResumePoint> resumePoints = ResumePoint.candidates(message.assignment());
    String recorded = message.assignment().resumeFrom();
    if (recorded != null && !recorded.equals(String.valueOf(resumePoints.get(0).checkpoint()))) {
      getContext().getLog().warn("worker {}: shard {} of run {} starts from {} (step {}), not from {}, the checkpoint "
          + "the coordinator recorded: {}", workerId, message.assignment().shard(), runId, resumePoints.get(0).checkpoint(),
          resumePoints.get(0).step(), recorded, Files.isDirectory(Path.of(recorded)) ? "a newer one exists" : "it is gone");
    }
    current = new ShardAttempt(++nextToken, workerId, device, getContext().getSelf(), config, message, hardExamples,
        telemetry(message, config), settings.syncWaitMargin(), resumePoints, ringLinks);
    current.renew(System.nanoTime(), settings.maxPause().toNanos());
    lease(current);
    if (recorded != null && !Files.isDirectory(Path.of(recorded))) {
      current.reportUnusable(recorded, "it is gone (an attempt the run gave up on may have trained on and pruned it)");
    }
    launch(current, trainer);
    timers.startTimerWithFixedDelay(ProgressTick.INSTANCE, settings.progressInterval());
  }

  /** Runs {@code attempt}'s trainer in a child of its own, on a thread of its own. */
  private void launch(ShardAttempt attempt, Trainer trainer) {
    ActorRef<TrainerRunner.Start> runner = getContext().spawn(
        TrainerRunner.create(attempt.token(), trainer, attempt, outcomeAdapter), "trainer-" + attempt.token(),
        DispatcherSelector.fromConfig(WorkerSettings.TRAINER_DISPATCHER));
    attempt.reportStarted();
    runner.tell(TrainerRunner.Start.INSTANCE);
  }

  /**
   * The attempt's telemetry stream to its run, or none in fast mode. A batch holds at most what fits this node's
   * frame, whatever {@code telemetry.batch-size} asks (up to 2^20 events, over 40 MB).
   */
  private TelemetryEmitter telemetry(AssignShard message, RunConfig config) {
    if (!config.telemetryEnabled()) return TelemetryEmitter.DISABLED;
    ShardAssignment a = message.assignment();
    RunConfig.Telemetry asked = config.telemetry;
    RunConfig.Telemetry fitted = new RunConfig.Telemetry(asked.enabled(), asked.everySteps(), asked.bufferSize(),
        Math.min(asked.batchSize(), RunCommand.TelemetryBatch.maxEvents(messageBytes)), asked.batchInterval());
    return StreamTelemetryEmitter.start(getContext().getSystem(), fitted, message.run(),
        message.spec().runId(), workerId, a.shard(), a.attempt(), settings.telemetryAckTimeout(), clock);
  }

  private Behavior<WorkerCommand> onAdoptShard(AdoptShard message) {
    if (current != null && current.is(message.runId(), message.shard(), message.attempt())) {
      getContext().getLog().info("worker {}: shard {} of run {} adopted by coordinator incarnation {}", workerId,
          message.shard(), message.runId(), message.incarnation());
      current.adoptedBy(message.run(), message.incarnation());
    }
    return this;
  }

  private Behavior<WorkerCommand> onStopShard(StopShard message) {
    if (current != null && current.isShard(message.runId(), message.shard())) {
      getContext().getLog().info("worker {}: stopping shard {} of run {}: {}", workerId, message.shard(),
          message.runId(), message.reason());
      current.requestStop();
    }
    return this;
  }

  private Behavior<WorkerCommand> onCollectHardExamples(CollectHardExamples message) {
    RunHardExamples run = runs.get(message.runId());
    if (run == null) {
      HardExampleParts.cut(RunHardExamples.emptySnapshot(message.runId(), message.merge(), workerId), messageBytes)
          .forEach(message.replyTo()::tell);
    } else {
      run.sendSnapshot(message.merge(), message.replyTo());
    }
    return this;
  }

  private Behavior<WorkerCommand> onSnapshotCredit(SnapshotCredit message) {
    RunHardExamples run = runs.get(message.runId());
    if (run != null) run.snapshotCredit(message.merge(), message.upTo());
    return this;
  }

  private Behavior<WorkerCommand> onMergedHardExamples(MergedHardExamples message) {
    RunHardExamples run = runs.get(message.runId());
    if (run == null) {
      RunHardExamples.mergedUntracked(message, workerId);
    } else {
      run.merged(message);
    }
    return this;
  }

  private Behavior<WorkerCommand> onReleaseRun(ReleaseRun message) {
    if (current == null || !current.runId().equals(message.runId())) runs.remove(message.runId());
    return this;
  }

  private Behavior<WorkerCommand> onAveragedChunk(AveragedChunk chunk) {
    if (current != null && current.is(chunk.runId(), chunk.shard(), chunk.attempt())) current.averaged(chunk);
    return this;
  }

  private Behavior<WorkerCommand> onAveragingFailed(AveragingFailed failed) {
    if (current != null && current.is(failed.runId(), failed.shard(), failed.attempt())) {
      current.averagingFailed(failed);
    }
    return this;
  }

  private Behavior<WorkerCommand> onRingFormed(RingFormed message) {
    if (current != null && current.is(message.runId(), message.shard(), message.attempt())) current.ringFormed(message);
    return this;
  }

  /** Sizes the run's data off the actor thread; the answer goes straight to the asker. */
  private Behavior<WorkerCommand> onSizeRun(SizeRun message) {
    String worker = workerId;
    RunPermissions allowed = permissions;
    CompletableFuture.runAsync(() -> message.replyTo().tell(RunSizing.size(message.spec(), worker, allowed)),
        sizingExecutor);
    return this;
  }

  /**
   * Checks in for the running attempt; a check-in that comes more than {@code max-pause} after the last means this
   * JVM was stopped or starved that long, longer than the failure detector tolerates: the coordinator may have taken
   * this worker for lost and given its shard to another, so the attempt is fenced (its training thread, which may have
   * woken first, already writes nothing: it finds the last check-in too old).
   */
  private Behavior<WorkerCommand> onLeaseTick() {
    if (current == null) return this;
    long now = System.nanoTime();
    long pausedNs = now - current.renewedAtNs();
    long lapsedNs = current.leaseLapsedNs(now);
    if (pausedNs > settings.maxPause().toNanos()) {
      fence(String.format("this worker was paused for %.1f s, longer than quarry.worker.max-pause (%d ms): its "
          + "shard may have been given to another worker", pausedNs / 1e9, settings.maxPause().toMillis()));
    } else if (lapsedNs > 3 * settings.writeLease().toNanos()) {
      // 4 x write-lease without an answer from the coordinator's node, yet no verdict of the failure detector: the
      // probes do not get through (the coordinator node's messages are stuck), so the coordinator may not hear this
      // worker either.
      fence(String.format("the coordinator's node has not answered for %.1f s (quarry.worker.write-lease = %d ms)",
          (lapsedNs + settings.writeLease().toNanos()) / 1e9, settings.writeLease().toMillis()));
    } else {
      current.renew(now, settings.maxPause().toNanos());
    }
    return this;
  }

  private Behavior<WorkerCommand> onNodeAnswered(NodeAnswered message) {
    probesAnswered.merge(message.address(), message.probeSentNs(), (a, b) -> b - a > 0 ? b : a);
    lease(current);
    return this;
  }

  /**
   * Gives {@code attempt} its write lease from the coordinator's node as far as the probes it answered go: none when
   * leases are off or the coordinator is in this JVM (nothing lies between them).
   */
  private void lease(ShardAttempt attempt) {
    if (attempt == null) return;
    boolean remote = coordinator != null && coordinator.path().address().hasGlobalScope();
    if (settings.writeLease().isZero() || !remote) {
      attempt.lease(0, null);
      return;
    }
    attempt.lease(settings.writeLease().toNanos(), probesAnswered.get(coordinator.path().address().toString()));
  }

  private Behavior<WorkerCommand> onFence(Fence message) {
    fence(message.reason());
    return this;
  }

  private Behavior<WorkerCommand> onNodeUnreachable(NodeUnreachable message) {
    if (coordinator != null && coordinator.path().address().toString().equals(message.address())) {
      fence("lost the coordinator: its node " + message.address() + " is unreachable from this worker");
    }
    return this;
  }

  /** Fences the running attempt, if any, and says so. */
  private void fence(String reason) {
    if (current == null || current.fenced() != null) return;
    getContext().getLog().warn("worker {}: stopping shard {} of run {} at once, writing nothing more: {}", workerId,
        current.assignment().shard(), current.runId(), reason);
    current.fence(reason);
  }

  private Behavior<WorkerCommand> onProgressTick() {
    if (current != null) current.reportProgress(counters(current.runId()));
    return this;
  }

  private Behavior<WorkerCommand> onHostTick() {
    if (coordinator != null) {
      getContext().pipeToSelf(java.util.concurrent.CompletableFuture.supplyAsync(HostSampler.shared()::sample,
          sizingExecutor), (load, failure) -> new HostSampled(failure == null ? load : null));
    }
    return this;
  }

  private Behavior<WorkerCommand> onHostSampled(HostSampled sampled) {
    if (coordinator != null && sampled.load() != null) {
      coordinator.tell(new CoordinatorCommand.HostReported(incarnation, workerId, sampled.load()));
    }
    return this;
  }

  private Behavior<WorkerCommand> onTrainerEnded(TrainerEnded message) {
    TrainerRunner.Outcome outcome = message.outcome();
    if (current == null || current.token() != outcome.token()) return this;
    if (current.canFallBack(outcome.failure()) && fellBack(outcome.failure())) return this;
    timers.cancel(ProgressTick.INSTANCE);
    getContext().pipeToSelf(current.endTelemetry(settings.telemetryDrainTimeout()),
        (done, failure) -> new TelemetryDrained(outcome, failure));
    return this;
  }

  /**
   * The checkpoint the attempt started from cannot be used: the same attempt starts again from the next older one (or
   * the shard's start). It costs the shard no attempt: the checkpoint, not the trainer, was at fault.
   */
  private boolean fellBack(Throwable failure) {
    ShardAttempt failed = current;
    Trainer trainer;
    try {
      trainer = trainers.get(failed.config().trainer).create(failed.config());
    } catch (RuntimeException e) {
      return false; // it was made once for this config; if not now, the failed try's outcome stands
    }
    current = failed.fallBack(++nextToken);
    lease(current);
    current.reportUnusable(String.valueOf(failed.resumePoint().checkpoint()), failure.getMessage());
    getContext().getLog().warn("worker {}: shard {} of run {}: checkpoint {} is unusable ({}); starting again from {}",
        workerId, failed.assignment().shard(), failed.runId(), failed.resumePoint().checkpoint(), failure.getMessage(),
        current.resumePoint().checkpoint() == null ? "the shard's start" : current.resumePoint().checkpoint());
    launch(current, trainer);
    return true;
  }

  private Behavior<WorkerCommand> onTelemetryDrained(TelemetryDrained message) {
    ShardAttempt attempt = current;
    if (attempt == null || attempt.token() != message.outcome().token()) return this;
    if (message.failure() != null) {
      getContext().getLog().warn("worker {}: telemetry of shard {} of run {} did not drain: {}", workerId,
          attempt.assignment().shard(), attempt.runId(), message.failure().toString());
    }
    RunHardExamples run = runs.get(attempt.runId());
    run.attemptEnded(attempt.telemetryDropped());
    current = null;
    lastOutcome = attempt.finalReport(message.outcome(), run.counters(0));
    if (lastOutcome instanceof RunCommand.ShardFailed failed) {
      getContext().getLog().warn("worker {}: shard {} of run {} failed (attempt {}): {}", workerId, failed.shard(),
          failed.runId(), failed.attempt(), failed.reason());
    }
    attempt.report(lastOutcome);
    if (attempt.runIncarnation() < incarnation && coordinator != null) {
      // Its run actor is an older coordinator's, which may be gone: the current one gets the report too.
      coordinator.tell(new CoordinatorCommand.Redeliver(incarnation, lastOutcome));
    }
    requestWork();
    return this;
  }

  private Behavior<WorkerCommand> onShutdown() {
    // Now, not in PostStop: this actor only terminates once its trainer child has returned from train().
    if (current != null) current.requestStop();
    return Behaviors.stopped();
  }

  private Behavior<WorkerCommand> onPostStop(PostStop signal) {
    // The trainer thread is not an actor: it only stops when asked.
    if (current != null) current.requestStop();
    return Behaviors.same();
  }

  /**
   * This worker's running totals of its counters for the run: its ended attempts', and the one running if it is the
   * run's; zero for a run it holds nothing of.
   */
  private RunCounters counters(String runId) {
    RunHardExamples run = runs.get(runId);
    if (run == null) return RunCounters.ZERO;
    boolean running = current != null && current.runId().equals(runId);
    return run.counters(running ? current.telemetryDropped() : 0);
  }

  private void requestWork() {
    if (coordinator != null) {
      coordinator.tell(new CoordinatorCommand.RequestWork(incarnation, workerId, device, getContext().getSelf(),
          settings.allowance()));
    }
  }
}
