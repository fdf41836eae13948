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
import io.quarry.coordinator.run.HardExamplePayloadFiles;
import io.quarry.coordinator.run.RunAlerts;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunMetrics;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.RunTotals;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.protocol.CoordinatorCommand.StopReply;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.FrameBudget;
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
import io.quarry.protocol.WorkerCommand;
import java.time.Clock;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.stream.Collectors;
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
 * The work is done by collaborators: the {@link ShardTable}; the run's {@link RunProgress}; its {@link RunHealth}
 * (stragglers and alerts), its {@link RunTelemetry} (written, never read), its {@link RunMerges} (the hard-example
 * all-gather and the final merge's gate), its {@link RunAveraging} (averaging relayed through the coordinator), its
 * {@link RunRing} (who is on the all-reduce ring) and its {@link ProcessGroupRun} (a DDP process group's starts and
 * restarts); {@link RunRecords} (what every line says), {@link RunDirectory} (where it goes) and the
 * {@link RunLedger} (the run store). Progress comes from the lifecycle reports only. Runs on the coordinator's I/O
 * dispatcher.
 */
final class RunActor {
  private enum MergeTick implements RunCommand.Local {
    INSTANCE
  }

  private enum ProgressTick implements RunCommand.Local {
    INSTANCE
  }

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
  /** Stragglers and alerts, judged from the lifecycle reports. */
  private final RunHealth health;
  private final RunProgress progress;
  /** The hard-example all-gather: merge rounds, the shares sent back, the payloads and the final merge's gate. */
  private final RunMerges merges;
  /** Null unless the shards are the ranks of one process group ({@code process.distributed = torch}). */
  private final ProcessGroupRun group;
  /** Null unless {@code sync.mode = average} with {@code sync.transport = coordinator}. */
  private final RunAveraging averaging;
  /** Who is on the run's all-reduce ring; null unless {@code sync.transport = ring} (average or allreduce). */
  private final RunRing ring;
  private final RunRecords records;
  private final RunDirectory directory;
  private final RunLedger ledger;
  private final RunTelemetry telemetry;
  private final RunMetrics metrics = new RunMetrics();
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

  private RunActor(ActorContext<RunCommand> context, TimerScheduler<RunCommand> timers, RunSetup setup) {
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
    RunRecord recovered = setup.recovered();
    RunTotals totals = recovered == null ? RunTotals.ZERO : RunRecords.totals(recovered.finalMetricsJson());
    this.progress = recovered == null
        ? new RunProgress(clock.millis(), 0, totals)
        : new RunProgress(recovered.submittedUnixMs(),
            recovered.startedUnixMs() == null ? 0 : recovered.startedUnixMs(), totals);
    this.records = new RunRecords(runId, clock);
    this.ring = config.sync.ring()
        ? new RunRing(runId, incarnation, config, shards, timers, directory, records, context.getLog()) : null;
    this.telemetry = new RunTelemetry(runId, directory, records, progress, context.getLog());
    this.health = new RunHealth(runId, config, shards, directory, records, progress, clock, context.getLog());
    this.averaging = config.sync.coordinatorAverages()
        ? new RunAveraging(runId, incarnation, config, timers, progress, records, directory, context.getLog()) : null;
    this.ledger = new RunLedger(setup.store(), runId, context.getLog());
    this.group = config.groupRanks() > 0 ? new ProcessGroupRun(shards.size(), config.groupMinRanks(),
        config.maxAttempts, config.groupLastCall(), shards, new GroupSide(), context, timers, coordinator, directory,
        records, ledger, progress, spec, incarnation) : null;
    shards.addStepsRedone(totals.stepsRedone());
    directory.whenUnwritable(reason -> context.getSelf().tell(new DirectoryUnwritable(reason)));
    HardExamplePayloadFiles payloads;
    try {
      payloads = HardExamplePayloadFiles.open(directory.path(), settings.payloadLimits());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read the hard-example payloads of run " + runId, e);
    }
    this.merges = new RunMerges(context, runId, incarnation, config,
        new MergeRounds(MergeMode.fromConfig(config.hardExamples.mergeMode()), config.hardExamples.k(),
            config.hardExamples.thresholdQuantile(), totals.merges(), System::nanoTime),
        new MergedShares(incarnation, runId, FrameBudget.messageBytes(context.getSystem().settings().config())),
        payloads, progress, metrics, records, directory);
  }

  static Behavior<RunCommand> create(RunSetup setup) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers ->
        new RunActor(context, timers, setup).start(setup.recovered(), setup.resumed())));
  }

  /** Announces the run (or picks up a recovered one) and enters the phase it is in. */
  private Behavior<RunCommand> start(RunRecord recovered, RunSetup.Resumed resumed) {
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
        .onMessage(RunAveraging.SyncTimedOut.class, this::onSyncTimedOut)
        .onMessage(RingJoin.class, this::onRingJoin)
        .onMessage(RingAborted.class, this::onRingAborted)
        .onMessageEquals(RunRing.FormationDue.INSTANCE, this::onRingFormationDue)
        .onMessage(RunRing.ReformDue.class, this::onRingReformDue)
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
        .onMessage(RunAveraging.SyncTimedOut.class, this::onSyncTimedOut)
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
          || !health.isStraggler(shard.index) || offer.workerId().equals(shard.workerId())) {
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
      health.pace(report.shard(), report.attempt(), report.startStep());
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onShardProgressed(ShardProgressed report) {
    metrics.report(report, clock.millis());
    boolean current = shards.progressed(report.shard(), report.attempt(), report.step());
    progress.shardProgressed(report.workerId(), report.loss(), report.counters(), current);
    if (current) health.pace(report.shard(), report.attempt(), report.step());
    progressChanged = true;
    if (!current) return Behaviors.same();
    return alerted(health.progressed(report));
  }

  private Behavior<RunCommand> onShardCheckpointed(ShardCheckpointed report) {
    if (shards.checkpointed(report.shard(), report.attempt(), report.workerId(), report.step(), report.path())) {
      progressChanged = true;
      health.pace(report.shard(), report.attempt(), report.step());
      ledger.shard(shards.shard(report.shard()));
      if (config.telemetryEnabled()) {
        telemetry.event(records.checkpoint(report.shard(), report.attempt(), report.workerId(), report.step(),
            report.path()));
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
    health.finished(report.shard());
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
    merges.workerLost(lost.workerId(), lost.reason());
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

  // --- alerts (a non-finite loss may stop the run) ---

  /**
   * Raises {@code alert} if there is one; a non-finite loss with {@code alerts.stop-on-nonfinite} also stops the run,
   * with the alert as its reason.
   */
  private Behavior<RunCommand> alerted(java.util.Optional<RunAlerts.Alert> alert) {
    if (alert.isEmpty()) return Behaviors.same();
    boolean stop = health.stops(alert.get()) && ending == null;
    health.raise(alert.get(), stop);
    progressChanged = true;
    if (!stop) return Behaviors.same();
    String reason = "alerts.stop-on-nonfinite: " + alert.get().message();
    ending = new Ending(RunState.STOPPED, reason);
    markStopping(reason);
    stopActiveShards("run stopped: " + reason);
    return shards.anyActive() ? stopping() : finish(ending);
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
      merges.startFinal(participants);
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
    String warning = merges.warning(counters);
    // Checked before and after run_completed: the run's own records, that one included, are part of its outcome.
    directory.failure().ifPresent(this::failedToRecord);
    directory.writeEvent(records.runCompleted(ending.status(), ending.reason(), shards.stepsReached(),
        shards.totalSteps(), totals, merges.payloadsWritten(), wallMs, counters, warning, merges.lastIncomplete()));
    directory.failure().ifPresent(this::failedToRecord);
    if (!warning.isEmpty()) context.getLog().warn("run {}: {}", runId, warning);
    directory.close();
    merges.close();
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

  // --- hard-example all-gather and payloads ---

  private Behavior<RunCommand> onMergeTick() {
    merges.tick(participants);
    return Behaviors.same();
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

  private void recordMerge(MergeCollected collected) {
    telemetry.count(merges.collected(collected, participants));
    progressChanged = true;
    persistRun();
  }

  /** A worker has room for more parts of its share of a merged buffer. */
  private Behavior<RunCommand> onMergedCredit(MergedCredit credit) {
    merges.credit(credit, participants.get(credit.workerId()));
    return Behaviors.same();
  }

  private Behavior<RunCommand> onHardExamplePayloads(HardExamplePayloads message) {
    merges.payloads(message);
    return Behaviors.same();
  }

  private Behavior<RunCommand> onHardExamplePayloadsWhileFinishing(HardExamplePayloads message) {
    merges.payloads(message);
    return merges.gateOpen() ? complete() : Behaviors.same();
  }

  private Behavior<RunCommand> onPayloadsDeadline() {
    merges.giveUpOnPayloads(settings.payloadsFinalWait());
    return complete();
  }

  // --- parameter averaging ---

  private Behavior<RunCommand> onSyncChunk(SyncChunk chunk) {
    // Only the shard's current attempt takes part; an attempt the run has given up on is being stopped.
    if (averaging != null && shards.isActiveAttempt(chunk.shard(), chunk.attempt(), chunk.workerId())) {
      averaging.chunk(chunk, shards.active().stream().map(shard -> shard.index).collect(Collectors.toSet()));
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onSyncTimedOut(RunAveraging.SyncTimedOut timedOut) {
    if (averaging != null) averaging.timedOut(timedOut);
    return Behaviors.same();
  }

  /** The shard's attempt ended or was given up on: the averaging rounds stop waiting for it, the ring goes on without. */
  private void leaveSync(int shard, boolean finished) {
    if (averaging != null) averaging.leave(shard, finished);
    if (ring != null) ring.leave(shard);
  }

  // --- the all-reduce ring (sync.transport = ring): the run only says who is on it ---

  private Behavior<RunCommand> onRingJoin(RingJoin join) {
    if (ring != null && shards.isActiveAttempt(join.shard(), join.attempt(), join.workerId())) ring.join(join);
    return Behaviors.same();
  }

  private Behavior<RunCommand> onRingFormationDue() {
    if (ring != null) ring.formationDue();
    return Behaviors.same();
  }

  private Behavior<RunCommand> onRingAborted(RingAborted aborted) {
    if (ring != null && shards.isActiveAttempt(aborted.shard(), aborted.attempt(), aborted.workerId())) {
      ring.aborted(aborted);
    }
    return Behaviors.same();
  }

  private Behavior<RunCommand> onRingReformDue(RunRing.ReformDue due) {
    if (ring != null) ring.reformDue(due);
    return Behaviors.same();
  }

  // --- telemetry, watchers, status ---

  /** Written to the run directory; lifecycle never reads it. */
  private Behavior<RunCommand> onTelemetryBatch(TelemetryBatch batch) {
    progressChanged |= telemetry.batch(batch);
    batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
    return Behaviors.same();
  }

  private Behavior<RunCommand> onWatch(Watch watch) {
    watchers.add(watch.subscriber());
    watch.subscriber().tell(update());
    return Behaviors.same();
  }

  private Behavior<RunCommand> onProgressTick() {
    RunHealth.Checked checked = health.check();
    progressChanged |= checked.stragglers() > 0 || checked.alerted();
    if (checked.stragglers() > 0 && config.speculative && ending == null) {
      coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    }
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
    merges.close();
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
        progress.droppedEvents(), merges.started(), statusReason(), shards.statuses(health::isStraggler),
        List.copyOf(participants.keySet()), directory.path().toString(),
        merges.hardest().subList(0, Math.min(5, merges.hardest().size())), progress.counters(),
        merges.warning(progress.counters()), metrics.snapshot());
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
