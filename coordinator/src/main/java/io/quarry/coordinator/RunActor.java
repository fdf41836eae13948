package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.CoordinatorProtocol.AdoptAttempt;
import io.quarry.coordinator.CoordinatorProtocol.MergeCollected;
import io.quarry.coordinator.CoordinatorProtocol.OfferWorker;
import io.quarry.coordinator.CoordinatorProtocol.Stop;
import io.quarry.coordinator.CoordinatorProtocol.Watch;
import io.quarry.coordinator.CoordinatorProtocol.WorkerLost;
import io.quarry.coordinator.merge.MergeMode;
import io.quarry.coordinator.merge.MergeRounds;
import io.quarry.coordinator.merge.MergedShares;
import io.quarry.coordinator.plots.RunPlotter;
import io.quarry.coordinator.run.AveragingRelay;
import io.quarry.coordinator.run.HardExamplePayloadFiles;
import io.quarry.coordinator.run.RingRoster;
import io.quarry.coordinator.run.RunAlerts;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunMetrics;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.RunTotals;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.run.StragglerDetector;
import io.quarry.coordinator.run.SyncRounds;
import io.quarry.coordinator.run.TelemetryBatches;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.protocol.CoordinatorCommand.StopReply;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.FrameBudget;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.RingPeer;
import io.quarry.protocol.RunCommand.CheckpointUnusable;
import io.quarry.protocol.RunCommand.HardExamplePayloads;
import io.quarry.protocol.RunCommand.MergedCredit;
import io.quarry.protocol.RunCommand.RankEndpoint;
import io.quarry.protocol.RunCommand.RingAborted;
import io.quarry.protocol.RunCommand.RingJoin;
import io.quarry.protocol.RunCommand.ShardCheckpointed;
import io.quarry.protocol.RunCommand.ShardCompleted;
import io.quarry.protocol.RunCommand.ShardFailed;
import io.quarry.protocol.RunCommand.ShardProgressed;
import io.quarry.protocol.RunCommand.ShardRefused;
import io.quarry.protocol.RunCommand.ShardStarted;
import io.quarry.protocol.RunCommand.ShardStopped;
import io.quarry.protocol.RunCommand.SyncChunk;
import io.quarry.protocol.RunCommand.TelemetryBatch;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.ShardState;
import io.quarry.protocol.TelemetryEvent;
import io.quarry.protocol.WorkerCommand;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.BehaviorBuilder;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One run, from submission to its final state, in four phases, each a behaviour:
 *
 * <ul>
 *   <li>{@link #running}: hands shards to the workers the coordinator offers, follows every attempt through its
 *       lifecycle (retrying failed ones from their last checkpoint, requeueing the shards of lost workers, copying
 *       stragglers), all-gathers the hard examples every merge interval and relays parameter averaging;
 *   <li>{@link #stopping}: a stop or a failure is under way: no new work; it ends once no shard is active;
 *   <li>{@link #finishing}: the end is decided: the final merge, and the payloads of its entries;
 *   <li>{@link #ended}: answers from the summary until the coordinator retires it.
 * </ul>
 *
 * The work is done by plain collaborators: the {@link ShardTable}, the {@link StragglerDetector}, the run's
 * {@link RunProgress}, its {@link MergeRounds}, its {@link AveragingRelay}, {@link RunRecords} (what every line
 * says) and {@link RunDirectory} (where it goes), and the {@link RunLedger} (the run store). Progress comes from the
 * lifecycle reports only; telemetry is written, never read. Runs on the coordinator's I/O dispatcher.
 */
final class RunActor {
  private enum MergeTick implements RunCommand.Local {
    INSTANCE
  }

  private enum ProgressTick implements RunCommand.Local {
    INSTANCE
  }

  /** An averaging round's {@code sync.timeout} has passed (also the timer's key). */
  private record SyncTimedOut(long round) implements RunCommand.Local {}

  /** The first all-reduce ring has waited {@code sync.timeout} for the shards without a worker. */
  private enum RingFormationDue implements RunCommand.Local {
    INSTANCE
  }

  /** Time to put the members of aborted ring {@code epoch} on a new one (also the timer's key). */
  private record RingReformDue(long epoch) implements RunCommand.Local {}

  /** The end of the wait for the final merge's payloads. */
  private enum PayloadsDeadline implements RunCommand.Local {
    INSTANCE
  }

  /** The end of the grace a recovered run gives workers to reclaim the attempts they are training. */
  private enum ClaimDeadline implements RunCommand.Local {
    INSTANCE
  }

  /** A lifecycle record of the run could not be written to its directory ({@code reason} says where and why). */
  private record DirectoryUnwritable(String reason) implements RunCommand.Local {}

  /** How the run is to end: its final status and, unless it completed, why. */
  private record Ending(RunState status, String reason) {}

  /** Dropped payloads logged one by one, per run; later ones are only counted (run_completed has the total). */
  private static final int LOGGED_PAYLOAD_DROPS = 10;

  /**
   * Everything a run actor starts from.
   *
   * @param recovered the run as the store recorded it, when a new coordinator incarnation recovers it; else null
   */
  record Setup(
      RunSpec spec,
      RunConfig config,
      ShardTable shards,
      RunDirectory directory,
      long incarnation,
      ActorRef<CoordinatorCommand> coordinator,
      Clock clock,
      RunStore store,
      RunRecord recovered,
      CoordinatorSettings settings,
      Resumed resumed) {
    /** A run that is not resumed by a person ({@code resumed} null). */
    Setup(RunSpec spec, RunConfig config, ShardTable shards, RunDirectory directory, long incarnation,
        ActorRef<CoordinatorCommand> coordinator, Clock clock, RunStore store, RunRecord recovered,
        CoordinatorSettings settings) {
      this(spec, config, shards, directory, incarnation, coordinator, clock, store, recovered, settings, null);
    }
  }

  /**
   * A STOPPED or FAILED run a person resumed ({@code quarry resume}): its {@code recovered} record is the one it ended
   * with, whose totals carry on.
   *
   * @param previousStatus how it had ended
   * @param previousReason why it had stopped or failed
   * @param overrides the keys changed on resume
   * @param pending the shards that continue from their checkpoints
   */
  record Resumed(RunState previousStatus, String previousReason, List<String> overrides, List<Integer> pending) {}

  private final ActorContext<RunCommand> context;
  private final TimerScheduler<RunCommand> timers;
  private final String runId;
  private final RunSpec spec;
  private final RunConfig config;
  private final long incarnation;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final Clock clock;
  private final CoordinatorSettings settings;
  private final ShardTable shards;
  private final StragglerDetector stragglers;
  private final RunProgress progress;
  private final MergeRounds merges;
  /** What of each merged buffer goes back to each worker: its own entries and the threshold, in parts. */
  private final MergedShares shares;
  /** The all-gather in flight, or null: told of a worker lost meanwhile. */
  private ActorRef<MergeAggregator.Command> gathering;
  /** Null unless the shards are the ranks of one process group ({@code process.distributed = torch}). */
  private final ProcessGroupRun group;
  /** Null unless {@code sync.mode = average} with {@code sync.transport = coordinator}. */
  private final AveragingRelay<ActorRef<WorkerCommand>> averaging;
  /** Who is on the run's all-reduce ring; null unless {@code sync.transport = ring} (average or allreduce). */
  private final RingRoster<ActorRef<WorkerCommand>> ring;
  private final RunRecords records;
  private final RunDirectory directory;
  private final HardExamplePayloadFiles payloads;
  private final RunLedger ledger;
  private final TelemetryBatches batches = new TelemetryBatches();
  private final RunMetrics metrics = new RunMetrics();
  private final RunAlerts alerts;
  /** Workers that have trained a shard of this run and are not lost: the merge's participants. */
  private final Map<String, ActorRef<WorkerCommand>> participants = new LinkedHashMap<>();
  /** Every worker given an attempt of this run, lost or not: where stops and the release go. */
  private final Map<String, ActorRef<WorkerCommand>> assigned = new LinkedHashMap<>();
  private final Set<ActorRef<RunUpdate>> watchers = new HashSet<>();
  /** The state clients see: PENDING until the first shard goes out, STOPPING once asked to stop, then the end's. */
  private RunState state = RunState.PENDING;
  /** How the run ends, once decided (a stop, a failure, or every shard done); null while it runs. */
  private Ending ending;
  private boolean progressChanged = true;
  /** Telemetry the run directory could not take is logged once, then only counted. */
  private boolean telemetryUnwrittenLogged;

  private RunActor(ActorContext<RunCommand> context, TimerScheduler<RunCommand> timers, Setup setup) {
    this.context = context;
    this.timers = timers;
    this.spec = setup.spec();
    this.runId = spec.runId();
    this.config = setup.config();
    this.incarnation = setup.incarnation();
    this.coordinator = setup.coordinator();
    this.clock = setup.clock();
    this.settings = setup.settings();
    this.shards = setup.shards();
    this.directory = setup.directory();
    this.stragglers = new StragglerDetector(config.stragglerFactor, config.stragglerWindow.toMillis());
    RunRecord recovered = setup.recovered();
    RunTotals totals = recovered == null ? RunTotals.ZERO : RunRecords.totals(recovered.finalMetricsJson());
    this.progress = recovered == null
        ? new RunProgress(clock.millis(), 0, totals)
        : new RunProgress(recovered.submittedUnixMs(),
            recovered.startedUnixMs() == null ? 0 : recovered.startedUnixMs(), totals);
    this.merges = new MergeRounds(MergeMode.fromConfig(config.hardExamples.mergeMode()), config.hardExamples.k(),
        config.hardExamples.thresholdQuantile(), totals.merges(), System::nanoTime);
    this.shares = new MergedShares(incarnation, runId, FrameBudget.messageBytes(context.getSystem().settings().config()));
    this.averaging = config.sync.coordinatorAverages()
        ? new AveragingRelay<>(incarnation, runId, System::nanoTime) : null;
    this.ring = config.sync.ring() ? new RingRoster<>(incarnation) : null;
    this.records = new RunRecords(runId, clock);
    this.ledger = new RunLedger(setup.store(), runId, context.getLog());
    this.group = config.groupRanks() > 0 ? new ProcessGroupRun(shards.size(), config.groupMinRanks(),
        config.maxAttempts, config.groupLastCall(), shards, new GroupSide(), context, timers, coordinator, directory,
        records, ledger, progress, spec, incarnation) : null;
    this.alerts = new RunAlerts(config.alerts.stalledAfter().toMillis(), clock.millis());
    shards.addStepsRedone(totals.stepsRedone());
    directory.whenUnwritable(reason -> context.getSelf().tell(new DirectoryUnwritable(reason)));
    try {
      this.payloads = HardExamplePayloadFiles.open(directory.path(), settings.payloadLimits());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read the hard-example payloads of run " + runId, e);
    }
  }

  static Behavior<RunCommand> create(Setup setup) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers ->
        new RunActor(context, timers, setup).start(setup.recovered(), setup.resumed())));
  }

  /** Announces the run (or picks up a recovered one) and enters the phase it is in. */
  private Behavior<RunCommand> start(RunRecord recovered, Resumed resumed) {
    if (resumed != null) {
      directory.writeEvent(records.runResumed(resumed.previousStatus(), resumed.previousReason(), resumed.overrides(),
          resumed.pending(), shards.stepsReached()));
      progress.resumed(clock.millis(), shards.stepsReached());
    } else if (recovered == null) {
      directory.writeEvent(records.runSubmitted(config.name, config.trainer, shards.size(), shards.totalSteps(),
          config.telemetryEnabled()));
    } else {
      resume(recovered);
    }
    timers.startTimerWithFixedDelay(MergeTick.INSTANCE, config.hardExamples.mergeInterval());
    timers.startTimerWithFixedDelay(ProgressTick.INSTANCE, settings.progressInterval());
    coordinator.tell(new CoordinatorProtocol.StatusChanged(status()));
    if (shards.hasPending()) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    if (ending != null) return shards.anyActive() ? stopping() : finish(ending);
    return shards.allDone() ? finish(new Ending(RunState.COMPLETED, "")) : running();
  }

  /** A run recorded by an earlier coordinator incarnation: its state, and the shards its workers may reclaim. */
  private void resume(RunRecord recovered) {
    if (recovered.startedUnixMs() != null) state = RunState.RUNNING;
    List<Integer> unclaimed = shards.active().stream().map(shard -> shard.index).toList();
    directory.writeEvent(records.runRecovered(incarnation, recovered.status(), unclaimed));
    if (recovered.status() == RunState.STOPPING) {
      state = RunState.STOPPING;
      ending = new Ending(RunState.STOPPED, recovered.failureReason() == null ? "stopped" : recovered.failureReason());
    }
    if (!unclaimed.isEmpty()) timers.startSingleTimer(ClaimDeadline.INSTANCE, settings.recoveryGrace());
    if (group != null && !unclaimed.isEmpty()) group.adopted();
  }

  // --- the phases ---

  /** What every phase before the end does alike: follow attempts, write telemetry, merge, average, report. */
  private BehaviorBuilder<RunCommand> training() {
    return Behaviors.receive(RunCommand.class)
        .onMessage(ShardStarted.class, this::onShardStarted)
        .onMessage(ShardProgressed.class, this::onShardProgressed)
        .onMessage(ShardCheckpointed.class, this::onShardCheckpointed)
        .onMessage(ShardCompleted.class, this::onShardCompleted)
        .onMessage(ShardFailed.class, this::onShardFailed)
        .onMessage(ShardRefused.class, this::onShardRefused)
        .onMessage(ShardStopped.class, this::onShardStopped)
        .onMessage(CheckpointUnusable.class, this::onCheckpointUnusable)
        .onMessage(WorkerLost.class, this::onWorkerLost)
        .onMessage(AdoptAttempt.class, this::onAdoptAttempt)
        .onMessageEquals(ClaimDeadline.INSTANCE, this::onClaimDeadline)
        .onMessage(TelemetryBatch.class, this::onTelemetryBatch)
        .onMessage(SyncChunk.class, this::onSyncChunk)
        .onMessage(SyncTimedOut.class, this::onSyncTimedOut)
        .onMessage(RingJoin.class, this::onRingJoin)
        .onMessage(RingAborted.class, this::onRingAborted)
        .onMessageEquals(RingFormationDue.INSTANCE, this::onRingFormationDue)
        .onMessage(RingReformDue.class, this::onRingReformDue)
        .onMessageEquals(MergeTick.INSTANCE, this::onMergeTick)
        .onMessage(MergeCollected.class, this::onMergeCollected)
        .onMessage(HardExamplePayloads.class, this::onHardExamplePayloads)
        .onMessage(MergedCredit.class, this::onMergedCredit)
        .onMessage(RankEndpoint.class, this::onRankEndpoint)
        .onMessageEquals(ProcessGroupRun.LastCall.INSTANCE, this::onLastCall)
        .onMessage(Watch.class, this::onWatch)
        .onMessageEquals(ProgressTick.INSTANCE, this::onProgressTick)
        .onMessage(DirectoryUnwritable.class, this::onDirectoryUnwritable)
        .onSignal(PostStop.class, this::onPostStop);
  }

  /** PENDING or RUNNING: takes workers, and a stop. */
  private Behavior<RunCommand> running() {
    return training()
        .onMessage(OfferWorker.class, this::onOfferWorker)
        .onMessage(Stop.class, this::onStop)
        .build();
  }

  /** A stop or a failure is under way: the active attempts are being stopped; no new work. */
  private Behavior<RunCommand> stopping() {
    return training()
        .onMessage(OfferWorker.class, this::declineOffer)
        .onMessage(Stop.class, this::onStopWhileStopping)
        .build();
  }

  /** The end is decided: the final merge goes out, then the run waits for its payloads (up to the final wait). */
  private Behavior<RunCommand> finishing() {
    return Behaviors.receive(RunCommand.class)
        .onMessage(MergeCollected.class, this::onMergeCollectedWhileFinishing)
        .onMessage(HardExamplePayloads.class, this::onHardExamplePayloadsWhileFinishing)
        .onMessage(MergedCredit.class, this::onMergedCredit)
        .onMessageEquals(PayloadsDeadline.INSTANCE, this::onPayloadsDeadline)
        .onMessage(WorkerLost.class, this::onWorkerLostWhileFinishing)
        .onMessage(ShardCompleted.class, this::onLateOutcome)
        .onMessage(ShardFailed.class, this::onLateOutcome)
        .onMessage(ShardStopped.class, this::onLateOutcome)
        .onMessage(ShardRefused.class, this::onLateOutcome)
        .onMessage(ShardProgressed.class, this::onShardProgressed)
        .onMessage(AdoptAttempt.class, this::onAdoptAttempt)
        .onMessage(TelemetryBatch.class, this::onTelemetryBatch)
        .onMessage(SyncTimedOut.class, this::onSyncTimedOut)
        .onMessage(OfferWorker.class, this::declineOffer)
        .onMessage(Stop.class, this::refuseStop)
        .onMessage(Watch.class, this::onWatch)
        .onMessageEquals(ProgressTick.INSTANCE, this::onProgressTick)
        .onMessage(DirectoryUnwritable.class, this::onDirectoryUnwritableWhileFinishing)
        .onSignal(PostStop.class, this::onPostStop)
        .onAnyMessage(late -> Behaviors.same())
        .build();
  }

  /** After the end: answer from the summary, acknowledge late telemetry, and stop once the coordinator knows. */
  private static Behavior<RunCommand> ended(RunSummary summary) {
    return Behaviors.receive(RunCommand.class)
        .onMessage(Watch.class, watch -> {
          watch.subscriber().tell(new RunUpdate.Finished(summary.runId(), summary));
          return Behaviors.same();
        })
        .onMessage(Stop.class, stop -> {
          stop.replyTo().tell(new StopReply(summary.runId(), false,
              "run " + summary.runId() + " is already " + summary.status().wireName()));
          return Behaviors.same();
        })
        .onMessage(TelemetryBatch.class, batch -> {
          batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
          return Behaviors.same();
        })
        .onMessageEquals(CoordinatorProtocol.Retire.INSTANCE, Behaviors::stopped)
        .onAnyMessage(late -> Behaviors.same())
        .build();
  }

  /** The phase after a change: the run's end is decided once nothing is left to wait for. */
  private Behavior<RunCommand> next() {
    if (ending == null) return shards.allDone() ? finish(new Ending(RunState.COMPLETED, "")) : Behaviors.same();
    return shards.anyActive() ? Behaviors.same() : finish(ending);
  }

  // --- shards and workers ---

  private Behavior<RunCommand> onOfferWorker(OfferWorker offer) {
    if (group != null) return grouped(group.offer(offer, ending != null));
    OptionalInt pending = shards.nextPending();
    boolean accepted = pending.isPresent() ? assign(pending.getAsInt(), offer) : config.speculative && speculate(offer);
    coordinator.tell(new CoordinatorProtocol.OfferAnswered(runId, offer.workerId(), accepted, offer.offerId()));
    return Behaviors.same();
  }

  private Behavior<RunCommand> declineOffer(OfferWorker offer) {
    coordinator.tell(new CoordinatorProtocol.OfferAnswered(runId, offer.workerId(), false, offer.offerId()));
    return Behaviors.same();
  }

  /** Hands the PENDING shard to the offered worker. */
  private boolean assign(int index, OfferWorker offer) {
    return assign(index, offer.workerId(), offer.worker(), null);
  }

  /**
   * Hands the PENDING shard to {@code worker}; as rank {@code rank} of the run's process group when not null, whose
   * ranks past 0 go out only once rank 0's endpoint is known ({@link #onRankEndpoint}).
   */
  private boolean assign(int index, String workerId, ActorRef<WorkerCommand> worker, DistributedRank rank) {
    ShardTable.Shard shard = shards.assign(index, workerId);
    boolean first = progress.start(clock.millis());
    if (first || state == RunState.PENDING) {
      // Its first shard goes out (a resumed run started before: it says so in run_resumed, not run_started).
      state = RunState.RUNNING;
      if (first) directory.writeEvent(records.runStarted());
      persistRun();
    }
    enlist(workerId, worker);
    if (rank == null || rank.rank() == 0) {
      worker.tell(new WorkerCommand.AssignShard(incarnation, spec, assignment(shard, shard.attempt()).withRank(rank),
          context.getSelf()));
    }
    directory.writeEvent(records.shardAssigned(shard.index, shard.attempt(), workerId, shard.lastCheckpoint(),
        shard.checkpointStep()));
    ledger.shard(shard);
    progressChanged = true;
    return true;
  }

  /** Starts a speculative copy of a straggling shard on the offered worker, if one needs it. */
  private boolean speculate(OfferWorker offer) {
    for (ShardTable.Shard shard : shards.active()) {
      if (shard.state() != ShardState.RUNNING || shard.backupWorkerId() != null
          || !stragglers.isStraggler(shard.index) || offer.workerId().equals(shard.workerId())) {
        continue;
      }
      int attempt = shards.speculate(shard.index, offer.workerId());
      enlist(offer.workerId(), offer.worker());
      offer.worker().tell(new WorkerCommand.AssignShard(incarnation, spec, assignment(shard, attempt),
          context.getSelf()));
      directory.writeEvent(records.shardSpeculated(shard.index, attempt, offer.workerId(), shard.workerId(),
          shard.attempt(), shard.checkpointStep()));
      progressChanged = true;
      return true;
    }
    return false;
  }

  private ShardAssignment assignment(ShardTable.Shard shard, int attempt) {
    return new ShardAssignment(shard.index, shards.worldSize(), attempt, shard.firstSample, shard.sampleCount,
        directory.checkpointDir(shard.index, attempt).toAbsolutePath().toString(), shard.lastCheckpoint(),
        shard.checkpointStep());
  }

  private void enlist(String workerId, ActorRef<WorkerCommand> worker) {
    participants.put(workerId, worker);
    assigned.put(workerId, worker);
  }

  private Behavior<RunCommand> onShardStarted(ShardStarted report) {
    metrics.report(report, clock.millis());
    if (shards.started(report.shard(), report.attempt(), report.workerId(), report.startStep(), report.resumeFrom())) {
      directory.writeEvent(records.shardStarted(report.shard(), report.attempt(), report.workerId(),
          report.startStep(), report.resumeFrom()));
      ledger.shard(shards.shard(report.shard()));
      pace(report.shard(), report.attempt(), report.startStep());
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onShardProgressed(ShardProgressed report) {
    metrics.report(report, clock.millis());
    boolean current = shards.progressed(report.shard(), report.attempt(), report.step());
    progress.shardProgressed(report.workerId(), report.loss(), report.counters(), current);
    if (current) pace(report.shard(), report.attempt(), report.step());
    progressChanged = true;
    if (!current) return Behaviors.same();
    return alerted(alerts.progressed(report.shard(), report.workerId(), report.step(), report.loss(),
        report.counters().get(RunCounter.NONFINITE_LOSSES), clock.millis()));
  }

  private Behavior<RunCommand> onShardCheckpointed(ShardCheckpointed report) {
    if (shards.checkpointed(report.shard(), report.attempt(), report.workerId(), report.step(), report.path())) {
      progressChanged = true;
      pace(report.shard(), report.attempt(), report.step());
      ledger.shard(shards.shard(report.shard()));
      if (config.telemetryEnabled()) {
        countUnwritten(directory.writeTelemetryEvent(records.checkpoint(report.shard(), report.attempt(),
            report.workerId(), report.step(), report.path())));
      }
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onShardCompleted(ShardCompleted report) {
    metrics.report(report, clock.millis());
    progress.attemptEnded(report.workerId(), report.stepsTrained(), report.samplesTrained(), report.counters());
    String[] otherCopy = shards.otherCopy(report.shard(), report.attempt());
    if (!shards.completed(report.shard(), report.attempt(), report.workerId(), report.endStep(),
        report.stepsTrained())) {
      return Behaviors.same();
    }
    if (otherCopy != null) stopOtherCopy(report, otherCopy);
    stragglers.finish(report.shard());
    leaveSync(report.shard(), true);
    progress.shardCompleted(report.shard(), report.finalLoss(), report.valLoss(), report.valAccuracy());
    directory.writeEvent(records.shardCompleted(report.shard(), report.attempt(), report.workerId(), report.endStep(),
        report.stepsTrained(), report.samplesTrained()));
    ledger.shard(shards.shard(report.shard()));
    persistRun();
    progressChanged = true;
    return group != null ? grouped(group.restartWhenStopped(ending != null)) : next();
  }

  /** One copy of a speculated shard finished first: the other is stopped (its later reports are stale). */
  private void stopOtherCopy(ShardCompleted winner, String[] otherCopy) {
    ActorRef<WorkerCommand> loser = assigned.get(otherCopy[0]);
    if (loser != null) {
      loser.tell(new WorkerCommand.StopShard(incarnation, runId, winner.shard(),
          "the other copy (attempt " + winner.attempt() + " on " + winner.workerId() + ") finished first"));
    }
    directory.writeEvent(records.speculationResolved(winner.shard(), winner.attempt(), winner.workerId(), otherCopy[0],
        Integer.parseInt(otherCopy[1])));
  }

  private Behavior<RunCommand> onShardFailed(ShardFailed report) {
    metrics.report(report, clock.millis());
    progress.attemptEnded(report.workerId(), report.stepsTrained(), report.samplesTrained(), report.counters());
    if (group != null) return grouped(group.onRankFailed(report, ending != null));
    ShardTable.FailureOutcome outcome =
        shards.failed(report.shard(), report.attempt(), report.workerId(), report.stepsTrained(), report.reason());
    if (outcome == ShardTable.FailureOutcome.STALE) return Behaviors.same();
    ShardTable.Shard shard = shards.shard(report.shard());
    if (outcome != ShardTable.FailureOutcome.COPY_CONTINUES) leaveSync(report.shard(), false);
    directory.writeEvent(records.shardFailed(report.shard(), report.attempt(), report.workerId(), report.reason(),
        shard.failures(), config.maxAttempts));
    ledger.shard(shard);
    persistRun();
    if (outcome == ShardTable.FailureOutcome.EXHAUSTED) {
      return fail("shard " + report.shard() + " failed " + shard.failures() + " time(s) (max-attempts = "
          + config.maxAttempts + "); last error: " + report.reason());
    }
    if (outcome == ShardTable.FailureOutcome.RETRY && ending == null) {
      progress.count(RunCounter.SHARD_RETRIES, 1);
      directory.writeEvent(records.shardRetried(report.shard(), shard.attempt(), shard.checkpointStep()));
      coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    }
    return next();
  }

  private Behavior<RunCommand> onShardStopped(ShardStopped report) {
    metrics.report(report, clock.millis());
    progress.attemptEnded(report.workerId(), report.stepsTrained(), report.samplesTrained(), report.counters());
    if (!shards.stopped(report.shard(), report.attempt(), report.workerId(), report.endStep(),
        report.stepsTrained())) {
      return Behaviors.same();
    }
    leaveSync(report.shard(), false);
    directory.writeEvent(records.shardStopped(report.shard(), report.attempt(), report.workerId(), report.endStep()));
    ledger.shard(shards.shard(report.shard()));
    if (group != null) return grouped(group.onRankStopped(report, ending != null));
    if (ending == null) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    return next();
  }

  /** A checkpoint of the shard could not be used: said in an event; the attempt went on from an older one. */
  private Behavior<RunCommand> onCheckpointUnusable(CheckpointUnusable report) {
    if (shards.isActiveAttempt(report.shard(), report.attempt(), report.workerId())) {
      directory.writeEvent(records.checkpointUnusable(report.shard(), report.attempt(), report.workerId(),
          report.path(), report.reason()));
      context.getLog().warn("run {}: shard {}: checkpoint {} is unusable: {}", runId, report.shard(),
          report.path(), report.reason());
    }
    return Behaviors.same();
  }

  /**
   * A worker will not train the run at all (its operator does not allow the program or the data): another attempt
   * elsewhere would only repeat the refusal, so the run fails at once with the worker's reason.
   */
  private Behavior<RunCommand> onShardRefused(ShardRefused report) {
    ShardTable.FailureOutcome outcome = shards.failed(report.shard(), report.attempt(), report.workerId(), 0,
        report.reason());
    if (outcome == ShardTable.FailureOutcome.STALE) return Behaviors.same();
    ShardTable.Shard shard = shards.shard(report.shard());
    if (outcome != ShardTable.FailureOutcome.COPY_CONTINUES) leaveSync(report.shard(), false);
    directory.writeEvent(records.shardFailed(report.shard(), report.attempt(), report.workerId(),
        "refused: " + report.reason(), shard.failures(), config.maxAttempts));
    ledger.shard(shard);
    persistRun();
    return fail("worker " + report.workerId() + " refused shard " + report.shard() + ": " + report.reason());
  }

  /** A final report of an attempt the ending run no longer follows: what it trained still counts. */
  private Behavior<RunCommand> onLateOutcome(RunCommand.ShardReport report) {
    metrics.report(report, clock.millis());
    if (report instanceof ShardCompleted completed) {
      progress.attemptEnded(completed.workerId(), completed.stepsTrained(), completed.samplesTrained(),
          completed.counters());
      shards.trained(completed.shard(), completed.attempt(), completed.endStep(), completed.stepsTrained());
    } else if (report instanceof ShardFailed failed) {
      progress.attemptEnded(failed.workerId(), failed.stepsTrained(), failed.samplesTrained(), failed.counters());
      shards.trainedBeforeFailing(failed.shard(), failed.attempt(), failed.stepsTrained());
    } else if (report instanceof ShardStopped stopped) {
      progress.attemptEnded(stopped.workerId(), stopped.stepsTrained(), stopped.samplesTrained(), stopped.counters());
      shards.trained(stopped.shard(), stopped.attempt(), stopped.endStep(), stopped.stepsTrained());
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onWorkerLost(WorkerLost lost) {
    if (group != null) group.workerLost(lost);
    if (!forget(lost)) return Behaviors.same();
    List<Integer> orphaned = shards.orphan(lost.workerId());
    for (int index : orphaned) {
      leaveSync(index, false);
      ShardTable.Shard shard = shards.shard(index);
      directory.writeEvent(records.shardReassigned(index, shard.attempt(), lost.workerId(), shard.checkpointStep(),
          shard.lastCheckpoint()));
    }
    progress.count(RunCounter.SHARDS_REASSIGNED, orphaned.size());
    ledger.shards(shards, orphaned);
    progressChanged = true;
    if (group != null) return grouped(group.onRanksOrphaned(lost, orphaned, ending != null));
    if (!orphaned.isEmpty() && ending == null) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    return next();
  }

  private Behavior<RunCommand> onWorkerLostWhileFinishing(WorkerLost lost) {
    forget(lost);
    return merges.gateOpen() ? complete() : Behaviors.same();
  }

  /** The lost worker takes no more part in merges and owes no payloads; true if it was of this run. */
  private boolean forget(WorkerLost lost) {
    boolean involved = participants.remove(lost.workerId()) != null;
    merges.workerLost(lost.workerId());
    shares.workerLost(lost.workerId());
    if (gathering != null) gathering.tell(new MergeAggregator.WorkerLost(lost.workerId(), lost.reason()));
    involved |= shards.active().stream().anyMatch(shard -> lost.workerId().equals(shard.workerId()));
    if (involved) directory.writeEvent(records.workerLost(lost.workerId(), lost.reason()));
    return involved;
  }

  private Behavior<RunCommand> onAdoptAttempt(AdoptAttempt adopt) {
    if (shards.adopt(adopt.shard(), adopt.attempt(), adopt.workerId())) {
      enlist(adopt.workerId(), adopt.worker());
      adopt.worker().tell(new WorkerCommand.AdoptShard(incarnation, runId, adopt.shard(), adopt.attempt(),
          context.getSelf()));
      directory.writeEvent(records.shardAdopted(adopt.shard(), adopt.attempt(), adopt.workerId(), incarnation));
      ledger.shard(shards.shard(adopt.shard()));
      progressChanged = true;
    } else {
      adopt.worker().tell(new WorkerCommand.StopShard(incarnation, runId, adopt.shard(),
          "attempt " + adopt.attempt() + " of shard " + adopt.shard() + " is no longer current"));
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onClaimDeadline() {
    List<Integer> requeued = shards.requeueUnclaimed();
    for (int index : requeued) {
      leaveSync(index, false);
      ShardTable.Shard shard = shards.shard(index);
      directory.writeEvent(records.shardUnclaimed(index, shard.attempt(), shard.checkpointStep(),
          shard.lastCheckpoint()));
    }
    progress.count(RunCounter.SHARDS_REASSIGNED, requeued.size());
    ledger.shards(shards, requeued);
    progressChanged = true;
    if (group != null && !requeued.isEmpty()) return grouped(group.onUnclaimed(requeued, ending != null));
    if (!requeued.isEmpty() && ending == null) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    return next();
  }

  /** Feeds the straggler detector with the progress of a shard's main attempt (speculative copies are not judged). */
  private void pace(int shard, int attempt, long step) {
    if (shards.shard(shard).attempt() == attempt) stragglers.progress(shard, attempt, step, clock.millis());
  }

  private void findStragglers() {
    Set<Integer> running = new HashSet<>();
    for (ShardTable.Shard shard : shards.active()) if (shard.state() == ShardState.RUNNING) running.add(shard.index);
    long now = clock.millis();
    for (int index : stragglers.check(running, now)) {
      ShardTable.Shard shard = shards.shard(index);
      directory.writeEvent(records.straggler(index, shard.attempt(), shard.workerId(), stragglers.msPerStep(index, now),
          stragglers.medianOfOthers(running, index, now), config.stragglerFactor, config.speculative));
      context.getLog().warn("run {}: shard {} on {} is a straggler", runId, index, shard.workerId());
      progressChanged = true;
      if (config.speculative && ending == null) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    }
  }

  // --- alerts ---

  /**
   * Raises {@code alert} if there is one; a non-finite loss with {@code alerts.stop-on-nonfinite} also stops the run,
   * with the alert as its reason.
   */
  private Behavior<RunCommand> alerted(java.util.Optional<RunAlerts.Alert> alert) {
    if (alert.isEmpty()) return Behaviors.same();
    boolean stop = alert.get().kind().equals(RunAlerts.NONFINITE_LOSS) && config.alerts.stopOnNonFinite()
        && ending == null;
    raise(alert.get(), stop);
    if (!stop) return Behaviors.same();
    String reason = "alerts.stop-on-nonfinite: " + alert.get().message();
    ending = new Ending(RunState.STOPPED, reason);
    markStopping(reason);
    stopActiveShards("run stopped: " + reason);
    return shards.anyActive() ? stopping() : finish(ending);
  }

  private void raise(RunAlerts.Alert alert, boolean stopping) {
    directory.writeEvent(records.alert(alert, stopping));
    progress.count(RunCounter.ALERTS, 1);
    progressChanged = true;
    context.getLog().warn("run {}: alert: {}", runId, alert.message());
  }

  // --- a process group (process.distributed = torch): ProcessGroupRun ---

  private Behavior<RunCommand> onRankEndpoint(RankEndpoint endpoint) {
    return group == null ? Behaviors.same() : grouped(group.onEndpoint(endpoint, ending != null));
  }

  private Behavior<RunCommand> onLastCall() {
    return group == null ? Behaviors.same() : grouped(group.onLastCall(ending != null));
  }

  /** After a group handler: the run fails with the reason it gave, or goes on. */
  private Behavior<RunCommand> grouped(java.util.Optional<String> failure) {
    return failure.isPresent() ? fail(failure.get()) : next();
  }

  /** What the process group asks of the run. */
  private final class GroupSide implements ProcessGroupRun.RunSide {
    @Override
    public void assign(int shard, String workerId, ActorRef<WorkerCommand> worker, DistributedRank rank) {
      RunActor.this.assign(shard, workerId, worker, rank);
    }

    @Override
    public ShardAssignment assignment(ShardTable.Shard shard) {
      return RunActor.this.assignment(shard, shard.attempt());
    }

    @Override
    public void stopActiveShards(String reason) {
      RunActor.this.stopActiveShards(reason);
    }

    @Override
    public void unlist(String workerId) {
      participants.remove(workerId);
    }

    @Override
    public void persist() {
      persistRun();
    }

    @Override
    public void changed() {
      progressChanged = true;
    }
  }

  // --- stop, fail, end ---

  private Behavior<RunCommand> onStop(Stop stop) {
    ending = new Ending(RunState.STOPPED, stop.reason());
    markStopping(stop.reason());
    stopActiveShards("run stopped: " + stop.reason());
    stop.replyTo().tell(new StopReply(runId, true, "run " + runId + " is stopping"));
    return shards.anyActive() ? stopping() : finish(ending);
  }

  private Behavior<RunCommand> onStopWhileStopping(Stop stop) {
    // A failing run asked to stop says so; it still ends FAILED, with the failure's reason.
    if (state != RunState.STOPPING) markStopping(stop.reason());
    stop.replyTo().tell(new StopReply(runId, true, "run " + runId + " is stopping"));
    return Behaviors.same();
  }

  private void markStopping(String reason) {
    state = RunState.STOPPING;
    directory.writeEvent(records.runStopping(reason));
    persistRun();
  }

  private Behavior<RunCommand> refuseStop(Stop stop) {
    stop.replyTo().tell(new StopReply(runId, false, "run " + runId + " is already " + ending.status().wireName()));
    return Behaviors.same();
  }

  private Behavior<RunCommand> fail(String reason) {
    if (ending == null || ending.status() != RunState.FAILED) {
      ending = new Ending(RunState.FAILED, reason);
      stopActiveShards("run failed: " + reason);
    }
    return shards.anyActive() ? stopping() : finish(ending);
  }

  private void stopActiveShards(String reason) {
    if (group != null) group.releaseUnsentRanks();
    for (ShardTable.Shard shard : shards.active()) {
      ActorRef<WorkerCommand> worker = assigned.get(shard.workerId());
      if (worker != null) worker.tell(new WorkerCommand.StopShard(incarnation, runId, shard.index, reason));
      ActorRef<WorkerCommand> copy = shard.backupWorkerId() == null ? null : assigned.get(shard.backupWorkerId());
      if (copy != null) copy.tell(new WorkerCommand.StopShard(incarnation, runId, shard.index, reason));
    }
  }

  /** The end is decided: no more merges on the interval; the final one goes out once none is in flight. */
  private Behavior<RunCommand> finish(Ending end) {
    ending = end;
    timers.cancel(MergeTick.INSTANCE);
    return merges.inFlight() ? finishing() : finalMergeOrComplete();
  }

  /** A final merge when anything was trained and any worker can answer; else the run completes now. */
  private Behavior<RunCommand> finalMergeOrComplete() {
    if (progress.stepsTrained() + shards.stepsReached() > 0 && !participants.isEmpty()) {
      gather(merges.startFinal());
      return finishing();
    }
    return complete();
  }

  private Behavior<RunCommand> complete() {
    timers.cancelAll();
    progress.finish(clock.millis());
    long wallMs = progress.finishedAtMs() - progress.submittedAtMs();
    RunTotals totals = totals();
    RunCounters counters = progress.counters();
    String warning = hardExamplesWarning(counters);
    // Checked before and after run_completed: the run's own records, that one included, are part of its outcome.
    directory.failure().ifPresent(this::failedToRecord);
    directory.writeEvent(records.runCompleted(ending.status(), ending.reason(), shards.stepsReached(),
        shards.totalSteps(), totals, payloads.written(), wallMs, counters, warning, merges.lastIncomplete()));
    directory.failure().ifPresent(this::failedToRecord);
    if (!warning.isEmpty()) context.getLog().warn("run {}: {}", runId, warning);
    directory.close();
    payloads.close();
    RunSummary summary = new RunSummary(runId, ending.status(), ending.reason(), shards.stepsReached(),
        shards.stepsRedone(), progress.samplesTrained(), wallMs, progress.droppedEvents(), merges.started(),
        merges.hardest(), directory.path().toString(), RunRecords.meanValLoss(totals),
        RunRecords.meanValAccuracy(totals), counters, warning);
    if (config.plotsEnabled) RunPlotter.get(context.getSystem()).plot(directory.path(), context.getLog());
    state = ending.status();
    persistRun();
    WorkerCommand.ReleaseRun release = new WorkerCommand.ReleaseRun(incarnation, runId);
    assigned.values().forEach(worker -> worker.tell(release));
    if (group != null) group.giveBackHeld();
    // The coordinator first: a watcher that acts on the end (resumes the run) then finds it ended.
    coordinator.tell(new CoordinatorProtocol.RunEnded(runId, summary, status()));
    RunUpdate.Finished finished = new RunUpdate.Finished(runId, summary);
    watchers.forEach(watcher -> watcher.tell(finished));
    context.getLog().info("run {} {}: {} steps, {} samples in {} ms{}", runId, ending.status().wireName(),
        summary.steps(), summary.samples(), wallMs, ending.reason().isEmpty() ? "" : " (" + ending.reason() + ")");
    return ended(summary);
  }

  // --- a run directory that cannot be written ---

  /** The run's own records can no longer be kept: it fails (its attempts are stopped), with where and why. */
  private Behavior<RunCommand> onDirectoryUnwritable(DirectoryUnwritable unwritable) {
    context.getLog().error("run {}: {}; the run fails", runId, unwritable.reason());
    return fail(unwritable.reason());
  }

  private Behavior<RunCommand> onDirectoryUnwritableWhileFinishing(DirectoryUnwritable unwritable) {
    context.getLog().error("run {}: {}; the run fails", runId, unwritable.reason());
    failedToRecord(unwritable.reason());
    return Behaviors.same();
  }

  /** A run whose lifecycle records were not all written ends FAILED, unless it fails for another reason already. */
  private void failedToRecord(String reason) {
    if (ending.status() != RunState.FAILED) ending = new Ending(RunState.FAILED, reason);
  }

  /** Telemetry the run directory could not take is dropped: counted, and logged the first time. */
  private void countUnwritten(RunDirectory.Unwritten unwritten) {
    if (unwritten.lines() == 0) return;
    if (!telemetryUnwrittenLogged) {
      telemetryUnwrittenLogged = true;
      context.getLog().warn("run {}: {}; telemetry that cannot be written is dropped and counted ({}), the run goes on",
          runId, unwritten.reason(), RunCounter.TELEMETRY_UNWRITTEN.label());
    }
    progress.count(RunCounter.TELEMETRY_UNWRITTEN, unwritten.lines());
    progressChanged = true;
  }

  // --- hard-example all-gather and payloads ---

  private Behavior<RunCommand> onMergeTick() {
    if (!merges.inFlight() && !participants.isEmpty()) gather(merges.start());
    return Behaviors.same();
  }

  /** A short-lived child asks every participant for its buffer and answers once. */
  private void gather(int merge) {
    gathering = context.spawn(MergeAggregator.create(runId, merge, incarnation, Map.copyOf(participants),
        config.hardExamples.k(), config.hardExamples.mergeTimeout(), context.getSelf()), "merge-" + merge);
  }

  private Behavior<RunCommand> onMergeCollected(MergeCollected collected) {
    recordMerge(collected);
    return Behaviors.same();
  }

  private Behavior<RunCommand> onMergeCollectedWhileFinishing(MergeCollected collected) {
    recordMerge(collected);
    if (!merges.finalStarted()) return finalMergeOrComplete();
    if (merges.gateOpen()) return complete();
    timers.startSingleTimer(PayloadsDeadline.INSTANCE, settings.payloadsFinalWait());
    return Behaviors.same();
  }

  /**
   * Merges what the all-gather brought, records it (with why each worker left out was) and sends each participant its
   * share of the merged buffer: the threshold and its own entries, in parts that fit the frame.
   */
  private void recordMerge(MergeCollected collected) {
    gathering = null;
    MergeRounds.Merged merged = merges.collected(collected.merge(), collected.snapshots(), collected.missingWhy(),
        collected.parts());
    long gatherMs = Math.round(merged.gatherMs());
    progress.count(RunCounter.MERGES, 1);
    progress.count(RunCounter.MERGE_WORKERS_MISSING, merged.missing().size());
    if (!merged.missingWhy().isEmpty()) {
      progress.count(RunCounter.MERGES_INCOMPLETE, 1);
      if (merged.unanswered()) progress.count(RunCounter.MERGES_UNANSWERED, 1);
      context.getLog().warn("run {}: merge {} left out {}", runId, merged.merge(), merged.missingWhy());
    }
    progress.count(RunCounter.MERGE_GATHER_MS_TOTAL, gatherMs);
    progress.count(RunCounter.MERGE_GATHER_MS_MAX, gatherMs);
    metrics.merged(merged.gatherMs() / 1000.0, merged.result().entries().size());
    progressChanged = true;
    persistRun();
    directory.writeMerge(records.mergeRecord(merged, merges.mode().configName(), merges.k()));
    if (config.telemetryEnabled()) countUnwritten(directory.writeTelemetryEvent(records.hardExamples(merged)));
    shares.start(merged.merge(), merged.result().entries(), merged.result().threshold(), participants.keySet(),
        context.getSelf()).forEach((workerId, parts) -> parts.forEach(participants.get(workerId)::tell));
    merges.sent(merged, participants.keySet());
  }

  /** A worker has room for more parts of its share of a merged buffer. */
  private Behavior<RunCommand> onMergedCredit(MergedCredit credit) {
    ActorRef<WorkerCommand> worker = participants.get(credit.workerId());
    if (worker != null) shares.credit(credit.workerId(), credit.merge(), credit.upTo()).forEach(worker::tell);
    return Behaviors.same();
  }

  /** The run's {@code hard_examples_warning}: empty while every merge has heard from every worker. */
  private String hardExamplesWarning(RunCounters counters) {
    return merges.warning(counters.get(RunCounter.MERGES), counters.get(RunCounter.MERGES_INCOMPLETE),
        counters.get(RunCounter.MERGES_UNANSWERED));
  }

  private Behavior<RunCommand> onHardExamplePayloads(HardExamplePayloads message) {
    writePayloads(message);
    return Behaviors.same();
  }

  private Behavior<RunCommand> onHardExamplePayloadsWhileFinishing(HardExamplePayloads message) {
    writePayloads(message);
    return merges.gateOpen() ? complete() : Behaviors.same();
  }

  private void writePayloads(HardExamplePayloads message) {
    for (HardExamplePayload payload : message.payloads()) {
      HardExamplePayloadFiles.Outcome outcome = payloads.write(payload, message.workerId(), message.merge());
      if (outcome instanceof HardExamplePayloadFiles.Outcome.Dropped drop) {
        progress.count(RunCounter.PAYLOADS_DROPPED, 1);
        if (payloads.dropped() <= LOGGED_PAYLOAD_DROPS) {
          context.getLog().warn("run {}: hard-example payload dropped: {}{}", runId, drop.reason(),
              payloads.dropped() == LOGGED_PAYLOAD_DROPS ? " (further drops are only counted)" : "");
        }
      }
    }
    progress.set(RunCounter.PAYLOADS_WRITTEN, payloads.written());
    merges.payloadsReceived(message.workerId(), message.merge(), message.last());
  }

  private Behavior<RunCommand> onPayloadsDeadline() {
    context.getLog().warn("run {}: completing without the hard-example payloads of {} (not sent within {})",
        runId, merges.payloadsAwaited(), settings.payloadsFinalWait());
    merges.giveUpOnPayloads();
    return complete();
  }

  // --- parameter averaging ---

  private Behavior<RunCommand> onSyncChunk(SyncChunk chunk) {
    // Only the shard's current attempt takes part; an attempt the run has given up on is being stopped.
    if (averaging == null || !shards.isActiveAttempt(chunk.shard(), chunk.attempt(), chunk.workerId())) {
      return Behaviors.same();
    }
    Set<Integer> active = new HashSet<>();
    for (ShardTable.Shard shard : shards.active()) active.add(shard.index);
    progress.count(RunCounter.SYNC_BYTES_RECEIVED, 4L * chunk.values().length);
    relay(averaging.contribute(chunk.shard(), chunk.attempt(), chunk.replyTo(), chunk.round(), chunk.chunk(),
        chunk.chunks(), chunk.totalLength(), chunk.values(), active));
    return Behaviors.same();
  }

  private Behavior<RunCommand> onSyncTimedOut(SyncTimedOut timedOut) {
    if (averaging != null) relay(averaging.timeOut(timedOut.round()));
    return Behaviors.same();
  }

  /** The shard's attempt ended or was given up on: the averaging rounds stop waiting for it, the ring goes on without. */
  private void leaveSync(int shard, boolean finished) {
    if (averaging != null) relay(averaging.leave(shard, finished));
    if (ring != null) ring.leave(shard, unfinishedShards()).ifPresent(r -> publishRing(r, "member_left"));
  }

  // --- the all-reduce ring (sync.transport = ring): the run only says who is on it ---

  private Behavior<RunCommand> onRingJoin(RingJoin join) {
    if (ring == null || !shards.isActiveAttempt(join.shard(), join.attempt(), join.workerId())) return Behaviors.same();
    boolean formed = ring.formed();
    java.util.Optional<RingRoster.Ring<ActorRef<WorkerCommand>>> next = ring.join(new RingRoster.Member<>(join.shard(),
        join.attempt(), join.replyTo(), join.host(), join.port()), unfinishedShards());
    next.ifPresent(r -> publishRing(r, formed ? "member_joined" : "formed"));
    if (next.isEmpty() && !ring.formed() && !timers.isTimerActive(RingFormationDue.INSTANCE)) {
      timers.startSingleTimer(RingFormationDue.INSTANCE, config.sync.timeout());
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onRingFormationDue() {
    if (ring != null) ring.formationTimedOut().ifPresent(r -> publishRing(r, "formed"));
    return Behaviors.same();
  }

  private Behavior<RunCommand> onRingAborted(RingAborted aborted) {
    if (ring == null || !shards.isActiveAttempt(aborted.shard(), aborted.attempt(), aborted.workerId())) {
      return Behaviors.same();
    }
    context.getLog().info("run {}: all-reduce ring epoch {} aborted on shard {}: {}", runId, aborted.epoch(),
        aborted.shard(), aborted.reason());
    if (ring.aborted(aborted.shard(), aborted.attempt(), aborted.epoch())) {
      timers.startSingleTimer(new RingReformDue(aborted.epoch()), Duration.ofMillis(RingRoster.REFORM_DELAY_MS));
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onRingReformDue(RingReformDue due) {
    if (ring != null) ring.reform(due.epoch()).ifPresent(r -> publishRing(r, "round_aborted"));
    return Behaviors.same();
  }

  /** Tells every member of the ring who is on it, and writes a {@code ring_formed} event. */
  private void publishRing(RingRoster.Ring<ActorRef<WorkerCommand>> r, String why) {
    timers.cancel(RingFormationDue.INSTANCE);
    List<RingPeer> peers = new ArrayList<>();
    for (RingRoster.Member<ActorRef<WorkerCommand>> m : r.members()) {
      peers.add(new RingPeer(m.shard(), m.attempt(), m.host(), m.port()));
    }
    for (RingRoster.Member<ActorRef<WorkerCommand>> m : r.members()) {
      m.replyTo().tell(new WorkerCommand.RingFormed(incarnation, runId, m.shard(), m.attempt(), r.epoch(), peers));
    }
    List<Integer> memberShards = peers.stream().map(RingPeer::shard).toList();
    context.getLog().info("run {}: all-reduce ring epoch {} ({}): shards {}", runId, r.epoch(), why, memberShards);
    directory.writeEvent(records.ringFormed(r.epoch(), memberShards, peers.stream().map(RingPeer::attempt).toList(),
        why));
  }

  /** The run's shards that are not done, pending ones included. */
  private int unfinishedShards() {
    return (int) shards.shards().stream().filter(shard -> shard.state() != ShardState.DONE).count();
  }

  private void relay(AveragingRelay.Outcome<ActorRef<WorkerCommand>> outcome) {
    outcome.opened().ifPresent(round -> timers.startSingleTimer(new SyncTimedOut(round), config.sync.timeout()));
    for (SyncRounds.Completed round : outcome.completed()) {
      timers.cancel(new SyncTimedOut(round.round()));
      recordSyncRound(round);
    }
    for (AveragingRelay.Delivery<ActorRef<WorkerCommand>> delivery : outcome.deliveries()) {
      if (delivery.message() instanceof WorkerCommand.AveragedChunk averaged) {
        progress.count(RunCounter.SYNC_BYTES_SENT, 4L * averaged.values().length);
      }
      delivery.to().tell(delivery.message());
    }
  }

  /** A {@code sync_round} event: always when a shard was missing or there was no average, else unless in fast mode. */
  private void recordSyncRound(SyncRounds.Completed round) {
    progress.count(RunCounter.SYNC_ROUNDS, 1);
    progress.count(RunCounter.SYNC_MS_TOTAL, round.wallMs());
    if (!round.missing().isEmpty() || round.timedOut()) progress.count(RunCounter.SYNC_ROUNDS_INCOMPLETE, 1);
    boolean notable = AveragingRelay.notable(round);
    if (notable) {
      context.getLog().warn("run {}: averaging round {} completed{}; missing shards {}; {}", runId, round.round(),
          round.timedOut() ? " at its sync.timeout (" + config.sync.timeout().toMillis() + " ms)" : "",
          round.missing(), round.averaged() ? "averaged over shards " + round.contributors() : "no average");
    }
    if (notable || config.telemetryEnabled()) directory.writeEvent(records.syncRound(round));
  }

  // --- telemetry, watchers, status ---

  /** Written to the run directory; lifecycle never reads it. */
  private Behavior<RunCommand> onTelemetryBatch(TelemetryBatch batch) {
    if (batches.isNew(batch.workerId(), batch.shard(), batch.attempt(), batch.seq())) {
      for (TelemetryEvent event : batch.events()) {
        directory.appendTelemetry(records.telemetry(batch.workerId(), event),
            RunRecords.scalarsRow(batch.workerId(), event));
      }
      countUnwritten(directory.flushTelemetry());
    }
    batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
    return Behaviors.same();
  }

  private Behavior<RunCommand> onWatch(Watch watch) {
    watchers.add(watch.subscriber());
    watch.subscriber().tell(update());
    return Behaviors.same();
  }

  private Behavior<RunCommand> onProgressTick() {
    findStragglers();
    alerts.check(shards.active().stream().filter(shard -> shard.state() == ShardState.RUNNING).map(shard -> shard.index)
        .toList(), shards.stepsReached(), clock.millis()).ifPresent(alert -> raise(alert, false));
    if (progressChanged) {
      RunUpdate.Progressed update = update();
      watchers.forEach(watcher -> watcher.tell(update));
      coordinator.tell(new CoordinatorProtocol.StatusChanged(status()));
    }
    progressChanged = false;
    return Behaviors.same();
  }

  private Behavior<RunCommand> onPostStop(PostStop signal) {
    directory.close();
    payloads.close();
    return Behaviors.same();
  }

  private RunUpdate.Progressed update() {
    return progress.update(runId, state, shards.stepsReached(), shards.totalSteps(), config.batchSize, clock.millis());
  }

  /** The run as clients see it. */
  private RunStatus status() {
    RunUpdate.Progressed update = update();
    return new RunStatus(runId, config.name, state, progress.submittedAtMs(), progress.startedAtMs(),
        progress.finishedAtMs(), update.steps(), update.totalSteps(), progress.lastLoss(), update.samplesPerSec(),
        progress.droppedEvents(), merges.started(), statusReason(), shards.statuses(stragglers::isStraggler),
        List.copyOf(participants.keySet()), directory.path().toString(),
        merges.hardest().subList(0, Math.min(5, merges.hardest().size())), progress.counters(),
        hardExamplesWarning(progress.counters()), metrics.snapshot());
  }

  private String reason() {
    return ending == null ? "" : ending.reason();
  }

  /** Why the run is where it is, for clients: its end's reason, or what its process group still waits for. */
  private String statusReason() {
    return ending == null && group != null ? group.waitingFor().orElse(reason()) : reason();
  }

  private RunTotals totals() {
    return progress.totals(merges.started(), shards.stepsRedone(), shards.progressSteps());
  }

  /** Writes the run's record: its state, times, totals and reason. */
  private void persistRun() {
    long startedAtMs = progress.startedAtMs();
    long finishedAtMs = progress.finishedAtMs();
    ledger.run(new RunRecord(runId, config.name, spec.configHocon(), state, progress.submittedAtMs(),
        startedAtMs == 0 ? null : startedAtMs, finishedAtMs == 0 ? null : finishedAtMs,
        RunRecords.totalsJson(totals()), reason().isEmpty() ? null : reason()));
  }
}
