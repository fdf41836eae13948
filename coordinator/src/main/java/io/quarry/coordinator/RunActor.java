package io.quarry.coordinator;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.CoordinatorProtocol.MergeCollected;
import io.quarry.coordinator.CoordinatorProtocol.OfferWorker;
import io.quarry.coordinator.CoordinatorProtocol.Stop;
import io.quarry.coordinator.CoordinatorProtocol.Watch;
import io.quarry.coordinator.CoordinatorProtocol.WorkerLost;
import io.quarry.coordinator.merge.HardExampleMerger;
import io.quarry.coordinator.merge.MergeMode;
import io.quarry.coordinator.merge.MergeResult;
import io.quarry.coordinator.run.HardExamplePayloadFiles;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.run.StragglerDetector;
import io.quarry.coordinator.run.SyncRounds;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.ParameterChunks;
import io.quarry.protocol.RunCommand.ShardCheckpointed;
import io.quarry.protocol.RunCommand.ShardCompleted;
import io.quarry.protocol.RunCommand.ShardFailed;
import io.quarry.protocol.RunCommand.ShardStarted;
import io.quarry.protocol.RunCommand.ShardStopped;
import io.quarry.protocol.RunCommand.SyncChunk;
import io.quarry.protocol.RunCommand.TelemetryBatch;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.TelemetryEvent;
import io.quarry.protocol.WorkerCommand;
import java.time.Clock;
import java.util.Arrays;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One run, from submission to its final state: it hands shards to the workers the coordinator offers, follows
 * every shard attempt through its lifecycle (retrying failed ones from their last checkpoint, requeueing the
 * shards of lost workers), all-gathers and merges the hard-example buffers every merge interval, averages the shards'
 * parameters when they send them ({@code sync.mode = average}), writes the run directory (with the payloads the
 * workers render for merged hard examples), and tells its watchers how it goes. Runs on the coordinator's I/O
 * dispatcher because it writes files.
 */
final class RunActor extends AbstractBehavior<RunCommand> {
  private enum MergeTick implements RunCommand.Local {
    INSTANCE
  }

  private enum ProgressTick implements RunCommand.Local {
    INSTANCE
  }

  /** An averaging round's {@code sync.timeout} has passed (also the timer's key). */
  private record SyncTimedOut(long round) implements RunCommand.Local {}

  /** The end of the wait for the final merge's payloads. */
  private enum PayloadsDeadline implements RunCommand.Local {
    INSTANCE
  }

  /** Dropped payloads logged one by one, per run; later ones are only counted (run_completed has the total). */
  private static final int LOGGED_PAYLOAD_DROPS = 10;

  /** The end of the grace a recovered run gives workers to reclaim the attempts they are training. */
  private enum ClaimDeadline implements RunCommand.Local {
    INSTANCE
  }

  private final String runId;
  private final RunSpec spec;
  private final RunConfig config;
  private final long incarnation;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final RunDirectory directory;
  private final HardExamplePayloadFiles payloads;
  private final java.time.Duration payloadsFinalWait;
  private final ShardTable shards;
  private final TimerScheduler<RunCommand> timers;
  private final RunLedger ledger;
  private final StragglerDetector stragglers;
  private final Clock clock;
  private final MergeMode mergeMode;
  /** The averaging rounds ({@code sync.mode = average}); null when every shard trains a model of its own. */
  private final SyncRounds<ActorRef<WorkerCommand>> syncRounds;
  private final long submittedAtMs;
  private long startedAtMs;
  private long finishedAtMs;

  /** Workers that have trained a shard of this run and are not lost: the merge's participants. */
  private final Map<String, ActorRef<WorkerCommand>> participants = new LinkedHashMap<>();
  private final Map<String, ActorRef<WorkerCommand>> assignedWorkers = new LinkedHashMap<>();
  private final Set<ActorRef<RunUpdate>> watchers = new HashSet<>();
  /** The last telemetry batch written per shard attempt (worker/shard/attempt), to drop batches sent twice. */
  private final Map<String, Long> lastBatchSeq = new java.util.HashMap<>();
  /** Per worker, its latest running totals of its counters for this run. */
  private final Map<String, RunCounters> workerCounters = new java.util.HashMap<>();

  private RunState state = RunState.PENDING;
  private boolean failing;
  private RunState finalStatus;
  private String finalReason = "";
  private int nextMerge;
  private boolean mergeInFlight;
  private long mergeStartedNs;
  /** The last merge's all-gather time (asking every worker to the last answer) and merge time, for its record. */
  private double gatherMs;
  private double mergeMs;
  private boolean finalMergeStarted;
  private List<HardExample> lastMerged = List.of();
  /**
   * Per worker, the latest merge whose buffer holds entries of that worker and whose payloads it has not finished
   * sending (its last message for that merge). Workers answer in merge order, so that one answer covers the earlier.
   */
  private final Map<String, Integer> payloadsOutstanding = new java.util.HashMap<>();
  /** The final merge's buffer is out: the run completes once no payloads are outstanding. */
  private boolean awaitingFinalPayloads;
  private long samplesTrained;
  private long stepsTrained;
  private long droppedEvents;
  private float lastLoss = Float.NaN;
  /** Per completed shard, its model's final {val loss, val accuracy}, for run_completed's metrics. */
  private final java.util.Map<Integer, RunLedger.ShardMetrics> shardMetrics = new java.util.TreeMap<>();
  private boolean progressChanged = true;
  private boolean completed;
  private RunSummary summary;

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
      RunRecord recovered) {}

  private RunActor(ActorContext<RunCommand> context, TimerScheduler<RunCommand> timers, Setup setup) {
    super(context);
    this.timers = timers;
    this.runId = setup.spec().runId();
    this.spec = setup.spec();
    this.config = setup.config();
    this.shards = setup.shards();
    this.directory = setup.directory();
    this.incarnation = setup.incarnation();
    this.coordinator = setup.coordinator();
    this.clock = setup.clock();
    this.ledger = new RunLedger(setup.store(), runId, context.getLog());
    this.stragglers = new StragglerDetector(config.stragglerFactor, config.stragglerWindow.toMillis());
    this.mergeMode = MergeMode.fromConfig(config.hardExamples.mergeMode());
    this.syncRounds = config.sync.average() ? new SyncRounds<>(System::nanoTime) : null;
    com.typesafe.config.Config payloadConfig =
        context.getSystem().settings().config().getConfig("quarry.coordinator.payloads");
    this.payloadsFinalWait = payloadConfig.getDuration("final-wait");
    try {
      this.payloads = HardExamplePayloadFiles.open(directory.path(), new HardExamplePayloadFiles.Limits(
          (int) Math.min(Integer.MAX_VALUE, payloadConfig.getBytes("max-bytes")), payloadConfig.getInt("max-per-run")));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read the hard-example payloads of run " + runId, e);
    }

    RunRecord recovered = setup.recovered();
    if (recovered == null) {
      this.submittedAtMs = clock.millis();
      ObjectNode submitted = directory.event("run_submitted");
      submitted.put("name", config.name);
      submitted.put("trainer", config.trainer);
      submitted.put("shards", shards.size());
      submitted.put("total_steps", shards.totalSteps());
      submitted.put("telemetry", config.telemetryEnabled());
      directory.write(submitted);
    } else {
      this.submittedAtMs = recovered.submittedUnixMs();
      resume(recovered, context.getSystem().settings().config().getDuration("quarry.coordinator.recovery-grace"));
    }
    timers.startTimerWithFixedDelay(MergeTick.INSTANCE, config.hardExamples.mergeInterval());
    timers.startTimerWithFixedDelay(ProgressTick.INSTANCE,
        context.getSystem().settings().config().getDuration("quarry.coordinator.progress-interval"));
    coordinator.tell(new CoordinatorProtocol.StatusChanged(status()));
    if (shards.hasPending()) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
  }

  static Behavior<RunCommand> create(Setup setup) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers -> new RunActor(context, timers, setup)));
  }

  /** Picks up a run recorded by an earlier coordinator incarnation: its totals, state and the shards to reclaim. */
  private void resume(RunRecord recovered, java.time.Duration claimGrace) {
    RunLedger.Totals totals = RunLedger.Totals.fromJson(recovered.finalMetricsJson());
    stepsTrained = totals.stepsTrained();
    samplesTrained = totals.samplesTrained();
    droppedEvents = totals.droppedEvents();
    nextMerge = totals.merges();
    lastLoss = totals.lastLoss();
    shardMetrics.putAll(totals.shardMetrics());
    shards.addStepsRedone(totals.stepsRedone());
    if (recovered.startedUnixMs() != null) {
      state = RunState.RUNNING;
      startedAtMs = recovered.startedUnixMs();
    }
    ObjectNode event = directory.event("run_recovered");
    event.put("incarnation", incarnation);
    event.put("recorded_status", recovered.status().wireName());
    ArrayNode unclaimed = event.putArray("unclaimed_shards");
    shards.active().forEach(shard -> unclaimed.add(shard.index));
    directory.write(event);
    if (recovered.status() == RunState.STOPPING) {
      state = RunState.STOPPING;
      finalReason = recovered.failureReason() == null ? "stopped" : recovered.failureReason();
    }
    if (!shards.active().isEmpty()) timers.startSingleTimer(ClaimDeadline.INSTANCE, claimGrace);
  }

  @Override
  public Receive<RunCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(OfferWorker.class, this::onOfferWorker)
        .onMessage(ShardStarted.class, this::onShardStarted)
        .onMessage(ShardCheckpointed.class, this::onShardCheckpointed)
        .onMessage(ShardCompleted.class, this::onShardCompleted)
        .onMessage(ShardFailed.class, this::onShardFailed)
        .onMessage(ShardStopped.class, this::onShardStopped)
        .onMessage(TelemetryBatch.class, this::onTelemetryBatch)
        .onMessage(SyncChunk.class, this::onSyncChunk)
        .onMessage(SyncTimedOut.class, this::onSyncTimedOut)
        .onMessage(WorkerLost.class, this::onWorkerLost)
        .onMessage(CoordinatorProtocol.AdoptAttempt.class, this::onAdoptAttempt)
        .onMessage(Stop.class, this::onStop)
        .onMessage(Watch.class, this::onWatch)
        .onMessageEquals(MergeTick.INSTANCE, this::onMergeTick)
        .onMessage(MergeCollected.class, this::onMergeCollected)
        .onMessage(RunCommand.HardExamplePayloads.class, this::onHardExamplePayloads)
        .onMessageEquals(PayloadsDeadline.INSTANCE, this::onPayloadsDeadline)
        .onMessageEquals(ProgressTick.INSTANCE, this::onProgressTick)
        .onMessageEquals(ClaimDeadline.INSTANCE, this::onClaimDeadline)
        .onSignal(org.apache.pekko.actor.typed.PostStop.class, signal -> {
          directory.close();
          payloads.close();
          return Behaviors.same();
        })
        .build();
  }

  // --- shards and workers ---

  private Behavior<RunCommand> onOfferWorker(OfferWorker offer) {
    OptionalInt pending = acceptingWork() ? shards.nextPending() : OptionalInt.empty();
    if (pending.isEmpty() && acceptingWork() && config.speculative && speculate(offer)) {
      coordinator.tell(new CoordinatorProtocol.OfferAnswered(runId, offer.workerId(), true, offer.offerId()));
      return next();
    }
    if (pending.isEmpty()) {
      coordinator.tell(new CoordinatorProtocol.OfferAnswered(runId, offer.workerId(), false, offer.offerId()));
      return next();
    }
    ShardTable.Shard shard = shards.assign(pending.getAsInt(), offer.workerId());
    if (state == RunState.PENDING) {
      state = RunState.RUNNING;
      startedAtMs = clock.millis();
      directory.write(directory.event("run_started"));
      persistRun();
    }
    participants.put(offer.workerId(), offer.worker());
    assignedWorkers.put(offer.workerId(), offer.worker());
    ShardAssignment assignment = new ShardAssignment(shard.index, shards.size(), shard.attempt(), shard.firstSample,
        shard.sampleCount, directory.checkpointDir(shard.index, shard.attempt()).toAbsolutePath().toString(), shard.lastCheckpoint(),
        shard.checkpointStep());
    offer.worker().tell(new WorkerCommand.AssignShard(incarnation, spec, assignment, getContext().getSelf()));
    ObjectNode event = shardEvent("shard_assigned", shard.index, shard.attempt(), offer.workerId());
    if (shard.lastCheckpoint() != null) {
      event.put("resume_from", shard.lastCheckpoint());
      event.put("resume_step", shard.checkpointStep());
    }
    directory.write(event);
    ledger.shard(shard);
    coordinator.tell(new CoordinatorProtocol.OfferAnswered(runId, offer.workerId(), true, offer.offerId()));
    progressChanged = true;
    return next();
  }

  private boolean acceptingWork() {
    return !failing && (state == RunState.PENDING || state == RunState.RUNNING);
  }

  private Behavior<RunCommand> onShardStarted(ShardStarted report) {
    if (shards.started(report.shard(), report.attempt(), report.workerId())) {
      ObjectNode event = shardEvent("shard_started", report.shard(), report.attempt(), report.workerId());
      event.put("start_step", report.startStep());
      directory.write(event);
      ledger.shard(shards.shard(report.shard()));
      pace(report.shard(), report.attempt(), report.startStep());
    }
    return next();
  }

  private Behavior<RunCommand> onShardCheckpointed(ShardCheckpointed report) {
    if (shards.checkpointed(report.shard(), report.attempt(), report.workerId(), report.step(), report.path())) {
      progressChanged = true;
      pace(report.shard(), report.attempt(), report.step());
      ledger.shard(shards.shard(report.shard()));
      if (config.telemetryEnabled()) {
        ObjectNode event = shardEvent("checkpoint", report.shard(), report.attempt(), report.workerId());
        event.put("step", report.step());
        event.put("path", report.path());
        directory.write(event);
      }
    }
    return next();
  }

  private Behavior<RunCommand> onShardCompleted(ShardCompleted report) {
    account(report.workerId(), report.stepsTrained(), report.samplesTrained(), report.counters());
    String[] otherCopy = shards.otherCopy(report.shard(), report.attempt());
    if (!shards.completed(report.shard(), report.attempt(), report.workerId(), report.endStep())) return next();
    if (otherCopy != null) stopOtherCopy(report, otherCopy);
    stragglers.finish(report.shard());
    leaveSync(report.shard(), true);
    if (!Float.isNaN(report.finalLoss())) lastLoss = report.finalLoss();
    if (!Float.isNaN(report.valLoss())) {
      shardMetrics.put(report.shard(), new RunLedger.ShardMetrics(report.valLoss(), report.valAccuracy()));
    }
    ObjectNode event = shardEvent("shard_completed", report.shard(), report.attempt(), report.workerId());
    event.put("end_step", report.endStep());
    event.put("steps_trained", report.stepsTrained());
    event.put("samples_trained", report.samplesTrained());
    directory.write(event);
    ledger.shard(shards.shard(report.shard()));
    persistRun();
    progressChanged = true;
    settle();
    return next();
  }

  private Behavior<RunCommand> onShardFailed(ShardFailed report) {
    account(report.workerId(), report.stepsTrained(), report.samplesTrained(), report.counters());
    ShardTable.Shard shard = shards.shard(report.shard());
    ShardTable.FailureOutcome outcome =
        shards.failed(report.shard(), report.attempt(), report.workerId(), report.stepsTrained(), report.reason());
    if (outcome == ShardTable.FailureOutcome.STALE) return next();
    if (outcome != ShardTable.FailureOutcome.COPY_CONTINUES) leaveSync(report.shard(), false);
    ObjectNode event = shardEvent("shard_failed", report.shard(), report.attempt(), report.workerId());
    event.put("reason", report.reason());
    event.put("failures", shard.failures());
    event.put("max_attempts", config.maxAttempts);
    directory.write(event);
    ledger.shard(shard);
    persistRun();
    if (outcome == ShardTable.FailureOutcome.EXHAUSTED) {
      fail("shard " + report.shard() + " failed " + shard.failures() + " time(s) (max-attempts = " + config.maxAttempts
          + "); last error: " + report.reason());
    } else if (outcome == ShardTable.FailureOutcome.RETRY && acceptingWork()) {
      ObjectNode retry = shardEvent("shard_retried", report.shard(), shard.attempt(), null);
      retry.put("resume_step", shard.checkpointStep());
      directory.write(retry);
      coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    }
    settle();
    return next();
  }

  private Behavior<RunCommand> onShardStopped(ShardStopped report) {
    account(report.workerId(), report.stepsTrained(), report.samplesTrained(), report.counters());
    if (!shards.stopped(report.shard(), report.attempt(), report.workerId(), report.endStep())) return next();
    leaveSync(report.shard(), false);
    ObjectNode event = shardEvent("shard_stopped", report.shard(), report.attempt(), report.workerId());
    event.put("end_step", report.endStep());
    directory.write(event);
    ledger.shard(shards.shard(report.shard()));
    if (acceptingWork()) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    settle();
    return next();
  }

  private Behavior<RunCommand> onWorkerLost(WorkerLost lost) {
    boolean involved = participants.remove(lost.workerId()) != null;
    payloadsOutstanding.remove(lost.workerId());
    List<Integer> orphaned = shards.orphan(lost.workerId());
    if (!involved && orphaned.isEmpty()) return next();
    ObjectNode event = directory.event("worker_lost");
    event.put("worker_id", lost.workerId());
    event.put("reason", lost.reason());
    directory.write(event);
    for (int index : orphaned) {
      leaveSync(index, false);
      ShardTable.Shard shard = shards.shard(index);
      ObjectNode reassigned = shardEvent("shard_reassigned", index, shard.attempt(), null);
      reassigned.put("from_worker", lost.workerId());
      reassigned.put("resume_step", shard.checkpointStep());
      if (shard.lastCheckpoint() != null) reassigned.put("resume_from", shard.lastCheckpoint());
      directory.write(reassigned);
    }
    ledger.shards(shards, orphaned);
    if (!orphaned.isEmpty() && acceptingWork()) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    progressChanged = true;
    settle();
    completeIfPayloadsAreIn();
    return next();
  }

  private Behavior<RunCommand> onAdoptAttempt(CoordinatorProtocol.AdoptAttempt adopt) {
    if (shards.adopt(adopt.shard(), adopt.attempt(), adopt.workerId())) {
      participants.put(adopt.workerId(), adopt.worker());
      assignedWorkers.put(adopt.workerId(), adopt.worker());
      adopt.worker().tell(new WorkerCommand.AdoptShard(incarnation, runId, adopt.shard(), adopt.attempt(),
          getContext().getSelf()));
      ObjectNode event = shardEvent("shard_adopted", adopt.shard(), adopt.attempt(), adopt.workerId());
      event.put("incarnation", incarnation);
      directory.write(event);
      ledger.shard(shards.shard(adopt.shard()));
      progressChanged = true;
    } else {
      adopt.worker().tell(new WorkerCommand.StopShard(incarnation, runId, adopt.shard(),
          "attempt " + adopt.attempt() + " of shard " + adopt.shard() + " is no longer current"));
    }
    return next();
  }

  private Behavior<RunCommand> onClaimDeadline() {
    List<Integer> requeued = shards.requeueUnclaimed();
    for (int index : requeued) {
      leaveSync(index, false);
      ShardTable.Shard shard = shards.shard(index);
      ObjectNode event = shardEvent("shard_reassigned", index, shard.attempt(), null);
      event.put("reason", "not reclaimed by its worker after the coordinator failover");
      event.put("resume_step", shard.checkpointStep());
      if (shard.lastCheckpoint() != null) event.put("resume_from", shard.lastCheckpoint());
      directory.write(event);
    }
    ledger.shards(shards, requeued);
    if (!requeued.isEmpty() && acceptingWork()) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    progressChanged = true;
    settle();
    return next();
  }

  /** Writes the run's record: its state, times, totals and reason. */
  private void persistRun() {
    RunLedger.Totals totals = new RunLedger.Totals(stepsTrained, samplesTrained, droppedEvents, nextMerge, lastLoss,
        shards.stepsRedone(), shardMetrics);
    ledger.run(new RunRecord(runId, config.name, spec.configHocon(), state, submittedAtMs,
        startedAtMs == 0 ? null : startedAtMs, finishedAtMs == 0 ? null : finishedAtMs, totals.toJson(),
        finalReason.isEmpty() ? null : finalReason));
  }

  /** Feeds the straggler detector with the progress of a shard's main attempt (speculative copies are not judged). */
  private void pace(int shard, int attempt, long step) {
    pace(shard, attempt, step, clock.millis());
  }

  /** {@code atMs}: when the step happened (a step event's own time; batches arrive every batch-interval). */
  private void pace(int shard, int attempt, long step, long atMs) {
    if (shards.shard(shard).attempt() == attempt) stragglers.progress(shard, attempt, step, atMs);
  }

  private void findStragglers() {
    if (finalStatus != null) return;
    java.util.Set<Integer> running = new java.util.HashSet<>();
    for (ShardTable.Shard shard : shards.active()) {
      if (shard.state() == io.quarry.protocol.ShardState.RUNNING) running.add(shard.index);
    }
    long now = clock.millis();
    for (int index : stragglers.check(running, now)) {
      ShardTable.Shard shard = shards.shard(index);
      ObjectNode event = shardEvent("straggler", index, shard.attempt(), shard.workerId());
      event.put("step_time_ms", Math.round(stragglers.msPerStep(index, now) * 10) / 10.0);
      event.put("median_step_time_ms", Math.round(stragglers.medianOfOthers(running, index, now) * 10) / 10.0);
      event.put("factor", config.stragglerFactor);
      event.put("speculative", config.speculative);
      directory.write(event);
      getContext().getLog().warn("run {}: shard {} on {} is a straggler", runId, index, shard.workerId());
      progressChanged = true;
      if (config.speculative && acceptingWork()) coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId));
    }
  }

  /** Starts a speculative copy of a straggling shard on the offered worker, if one needs it. */
  private boolean speculate(OfferWorker offer) {
    for (ShardTable.Shard shard : shards.active()) {
      if (shard.state() != io.quarry.protocol.ShardState.RUNNING || shard.backupWorkerId() != null
          || !stragglers.isStraggler(shard.index) || offer.workerId().equals(shard.workerId())) {
        continue;
      }
      int attempt = shards.speculate(shard.index, offer.workerId());
      participants.put(offer.workerId(), offer.worker());
      assignedWorkers.put(offer.workerId(), offer.worker());
      String checkpointDir = directory.checkpointDir(shard.index, attempt).toAbsolutePath().toString();
      ShardAssignment assignment = new ShardAssignment(shard.index, shards.size(), attempt, shard.firstSample,
          shard.sampleCount, checkpointDir, shard.lastCheckpoint(), shard.checkpointStep());
      offer.worker().tell(new WorkerCommand.AssignShard(incarnation, spec, assignment, getContext().getSelf()));
      ObjectNode event = shardEvent("shard_speculated", shard.index, attempt, offer.workerId());
      event.put("copy_of_worker", shard.workerId());
      event.put("copy_of_attempt", shard.attempt());
      event.put("resume_step", shard.checkpointStep());
      directory.write(event);
      progressChanged = true;
      return true;
    }
    return false;
  }

  /** One copy of a speculated shard finished first: the other is stopped (its later reports are stale). */
  private void stopOtherCopy(ShardCompleted winner, String[] otherCopy) {
    ActorRef<WorkerCommand> loser = assignedWorkers.get(otherCopy[0]);
    if (loser != null) {
      loser.tell(new WorkerCommand.StopShard(incarnation, runId, winner.shard(),
          "the other copy (attempt " + winner.attempt() + " on " + winner.workerId() + ") finished first"));
    }
    ObjectNode event = shardEvent("speculation_resolved", winner.shard(), winner.attempt(), winner.workerId());
    event.put("stopped_worker", otherCopy[0]);
    event.put("stopped_attempt", Integer.parseInt(otherCopy[1]));
    directory.write(event);
  }

  private void account(String workerId, long steps, long samples, RunCounters counters) {
    stepsTrained += steps;
    samplesTrained += samples;
    RunCounters before = workerCounters.getOrDefault(workerId, RunCounters.ZERO);
    RunCounters after = before.max(counters);
    workerCounters.put(workerId, after);
    droppedEvents += after.get(io.quarry.protocol.RunCounter.TELEMETRY_DROPPED) - before.get(io.quarry.protocol.RunCounter.TELEMETRY_DROPPED);
  }

  /** The run's counters: the workers' running totals added up. */
  private RunCounters counters() {
    RunCounters total = RunCounters.ZERO;
    for (RunCounters counters : workerCounters.values()) total = total.plus(counters);
    return total;
  }

  // --- stop and fail ---

  private Behavior<RunCommand> onStop(Stop stop) {
    if (state.isFinal() || finalStatus != null) {
      stop.replyTo().tell(new CoordinatorCommand.StopReply(runId, false, "run " + runId + " is already "
          + (finalStatus != null ? finalStatus : state).wireName()));
      return next();
    }
    if (state != RunState.STOPPING) {
      state = RunState.STOPPING;
      ObjectNode event = directory.event("run_stopping");
      event.put("reason", stop.reason());
      directory.write(event);
      finalReason = stop.reason();
      persistRun();
      stopActiveShards("run stopped: " + stop.reason());
    }
    stop.replyTo().tell(new CoordinatorCommand.StopReply(runId, true, "run " + runId + " is stopping"));
    settle();
    return next();
  }

  private void fail(String reason) {
    if (failing) return;
    failing = true;
    finalReason = reason;
    stopActiveShards("run failed: " + reason);
  }

  private void stopActiveShards(String reason) {
    for (ShardTable.Shard shard : shards.active()) {
      ActorRef<WorkerCommand> worker = assignedWorkers.get(shard.workerId());
      if (worker != null) worker.tell(new WorkerCommand.StopShard(incarnation, runId, shard.index, reason));
      ActorRef<WorkerCommand> copy = shard.backupWorkerId() == null ? null : assignedWorkers.get(shard.backupWorkerId());
      if (copy != null) copy.tell(new WorkerCommand.StopShard(incarnation, runId, shard.index, reason));
    }
  }

  /** Ends the run once nothing is left to wait for. */
  private void settle() {
    if (finalStatus != null) return;
    if (failing && !shards.anyActive()) {
      finish(RunState.FAILED);
    } else if (state == RunState.STOPPING && !shards.anyActive()) {
      finish(RunState.STOPPED);
    } else if (shards.allDone()) {
      finish(RunState.COMPLETED);
    }
  }

  private void finish(RunState status) {
    finalStatus = status;
    timers.cancel(MergeTick.INSTANCE);
    if (!mergeInFlight) startFinalMergeOrComplete();
  }

  private void startFinalMergeOrComplete() {
    if (!finalMergeStarted && stepsTrained + shards.stepsReached() > 0 && !participants.isEmpty()) {
      finalMergeStarted = true;
      startMerge();
    } else {
      complete();
    }
  }

  // --- hard-example all-gather ---

  private Behavior<RunCommand> onMergeTick() {
    if (!mergeInFlight && finalStatus == null && !participants.isEmpty()) startMerge();
    return next();
  }

  private void startMerge() {
    mergeInFlight = true;
    mergeStartedNs = System.nanoTime();
    int merge = nextMerge++;
    getContext().spawn(
        MergeAggregator.create(runId, merge, incarnation, Map.copyOf(participants),
            config.hardExamples.mergeTimeout(), getContext().getSelf()),
        "merge-" + merge);
  }

  private Behavior<RunCommand> onMergeCollected(MergeCollected collected) {
    mergeInFlight = false;
    long gatheredNs = System.nanoTime();
    MergeResult result = HardExampleMerger.merge(collected.merge(), mergeMode, config.hardExamples.k(),
        config.hardExamples.thresholdQuantile(), collected.snapshots());
    gatherMs = (gatheredNs - mergeStartedNs) / 1e6;
    mergeMs = (System.nanoTime() - gatheredNs) / 1e6;
    // A merge of an interval in which nothing was trained (the final one, when every shard ended before it) keeps the
    // last merge's buffer as the run's hardest, which the summary and the API show.
    if (!result.entries().isEmpty() || lastMerged.isEmpty()) lastMerged = result.entries();
    progressChanged = true;
    persistRun();
    recordMerge(collected, result);
    WorkerCommand.MergedHardExamples merged = new WorkerCommand.MergedHardExamples(
        incarnation, runId, collected.merge(), result.entries(), result.threshold(), getContext().getSelf());
    participants.values().forEach(worker -> worker.tell(merged));
    for (HardExample entry : result.entries()) {
      if (participants.containsKey(entry.workerId())) payloadsOutstanding.put(entry.workerId(), collected.merge());
    }
    if (finalStatus != null) {
      if (finalMergeStarted) {
        awaitFinalPayloads();
      } else {
        startFinalMergeOrComplete();
      }
    }
    return next();
  }

  // --- hard-example payloads ---

  /**
   * The final merge's buffer is out: the run completes once every worker with entries in it (or in an earlier merge
   * it has not answered yet) has sent its payloads, or after {@code quarry.coordinator.payloads.final-wait}.
   */
  private void awaitFinalPayloads() {
    awaitingFinalPayloads = true;
    if (payloadsOutstanding.isEmpty()) {
      complete();
    } else {
      timers.startSingleTimer(PayloadsDeadline.INSTANCE, payloadsFinalWait);
    }
  }

  /** Completes the run if it only waited for payloads and none are outstanding now. */
  private void completeIfPayloadsAreIn() {
    if (awaitingFinalPayloads && payloadsOutstanding.isEmpty() && !completed) {
      timers.cancel(PayloadsDeadline.INSTANCE);
      complete();
    }
  }

  private Behavior<RunCommand> onHardExamplePayloads(RunCommand.HardExamplePayloads message) {
    for (HardExamplePayload payload : message.payloads()) {
      HardExamplePayloadFiles.Outcome outcome = payloads.write(payload, message.workerId(), message.merge());
      if (outcome instanceof HardExamplePayloadFiles.Outcome.Dropped drop) {
        if (payloads.dropped() <= LOGGED_PAYLOAD_DROPS) {
          getContext().getLog().warn("run {}: hard-example payload dropped: {}{}", runId, drop.reason(),
              payloads.dropped() == LOGGED_PAYLOAD_DROPS ? " (further drops are only counted)" : "");
        }
      }
    }
    if (message.last() && Integer.valueOf(message.merge()).equals(payloadsOutstanding.get(message.workerId()))) {
      payloadsOutstanding.remove(message.workerId());
      completeIfPayloadsAreIn();
    }
    return next();
  }

  private Behavior<RunCommand> onPayloadsDeadline() {
    if (!awaitingFinalPayloads || completed) return next();
    getContext().getLog().warn("run {}: completing without the hard-example payloads of {} (not sent within {})",
        runId, payloadsOutstanding.keySet(), payloadsFinalWait);
    payloadsOutstanding.clear();
    complete();
    return next();
  }

  private void recordMerge(MergeCollected collected, MergeResult result) {
    ObjectNode record = directory.object();
    record.put("merge", collected.merge());
    record.put("ts", java.time.format.DateTimeFormatter.ISO_INSTANT.format(clock.instant()));
    record.put("mode", mergeMode.configName());
    record.put("k", config.hardExamples.k());
    if (Double.isNaN(result.threshold())) record.putNull("threshold");
    else record.put("threshold", result.threshold());
    ArrayNode workers = record.putArray("workers");
    result.workers().forEach(workers::add);
    ArrayNode missing = record.putArray("missing");
    collected.missing().forEach(missing::add);
    ObjectNode counts = record.putObject("counts");
    result.takenPerWorker().forEach(counts::put);
    record.put("gather_ms", Math.round(gatherMs * 1000) / 1000.0);
    record.put("merge_ms", Math.round(mergeMs * 1000) / 1000.0);
    record.put("samples_seen", result.samplesSeen());
    record.put("above_threshold", result.aboveThreshold());
    if (Float.isNaN(result.maxLoss())) record.putNull("max_loss");
    else record.put("max_loss", result.maxLoss());
    ArrayNode entries = record.putArray("entries");
    for (HardExample entry : result.entries()) {
      ObjectNode node = entries.addObject();
      node.put("sample_id", entry.sampleId());
      node.put("loss", entry.loss());
      node.put("worker_id", entry.workerId());
      node.put("step", entry.step());
      // null, not left out, when the trainer did not say: every entry has the same fields.
      if (entry.hasLabel()) node.put("label", entry.label());
      else node.putNull("label");
      if (entry.hasPrediction()) node.put("predicted", entry.predicted());
      else node.putNull("predicted");
    }
    directory.merge(record);
    if (config.telemetryEnabled()) {
      ObjectNode event = directory.event("hard_examples");
      event.put("merge", collected.merge());
      event.put("entries", result.entries().size());
      event.set("threshold", record.get("threshold"));
      event.set("missing", missing);
      directory.write(event);
    }
  }

  // --- parameter averaging ---

  private Behavior<RunCommand> onSyncChunk(SyncChunk chunk) {
    // Only the shard's current attempt takes part; an attempt the run has given up on is being stopped.
    if (syncRounds == null || !shards.isActiveAttempt(chunk.shard(), chunk.attempt(), chunk.workerId())) return next();
    Set<Integer> active = new HashSet<>();
    for (ShardTable.Shard shard : shards.active()) active.add(shard.index);
    apply(syncRounds.contribute(chunk.shard(), chunk.attempt(), chunk.replyTo(), chunk.round(), chunk.chunk(),
        chunk.chunks(), chunk.totalLength(), chunk.values(), active));
    return next();
  }

  private Behavior<RunCommand> onSyncTimedOut(SyncTimedOut timedOut) {
    if (syncRounds != null) apply(syncRounds.timeOut(timedOut.round()));
    return next();
  }

  /** The shard's attempt ended or was given up on: the averaging rounds stop waiting for it. */
  private void leaveSync(int shard, boolean finished) {
    if (syncRounds != null) apply(syncRounds.leave(shard, finished));
  }

  private void apply(SyncRounds.Outcome<ActorRef<WorkerCommand>> outcome) {
    outcome.opened().ifPresent(round -> timers.startSingleTimer(new SyncTimedOut(round), config.sync.timeout()));
    for (SyncRounds.Completed round : outcome.completed()) {
      timers.cancel(new SyncTimedOut(round.round()));
      recordSyncRound(round);
    }
    // One average goes to every shard of its round: cut it into chunks once (receivers only read them).
    Map<float[], float[][]> chunked = new IdentityHashMap<>();
    for (SyncRounds.Answer<ActorRef<WorkerCommand>> answer : outcome.answers()) {
      if (answer.average() == null) {
        answer.replyTo().tell(new WorkerCommand.AveragingFailed(incarnation, runId, answer.shard(), answer.attempt(),
            answer.round(), answer.error(), answer.fatal()));
        continue;
      }
      float[] average = answer.average();
      float[][] chunks = chunked.computeIfAbsent(average, RunActor::chunks);
      for (int chunk = 0; chunk < chunks.length; chunk++) {
        answer.replyTo().tell(new WorkerCommand.AveragedChunk(incarnation, runId, answer.shard(), answer.attempt(),
            answer.round(), answer.contributors(), chunk, chunks.length, average.length, chunks[chunk]));
      }
    }
  }

  private static float[][] chunks(float[] vector) {
    float[][] chunks = new float[ParameterChunks.count(vector.length)][];
    for (int chunk = 0; chunk < chunks.length; chunk++) {
      int start = ParameterChunks.start(chunk);
      chunks[chunk] = Arrays.copyOfRange(vector, start, start + ParameterChunks.length(vector.length, chunk));
    }
    return chunks;
  }

  /** A {@code sync_round} event: always when a shard was missing or there was no average, else unless in fast mode. */
  private void recordSyncRound(SyncRounds.Completed round) {
    boolean notable = !round.missing().isEmpty() || !round.averaged();
    if (notable) {
      getContext().getLog().warn("run {}: averaging round {} completed{}; missing shards {}; {}", runId, round.round(),
          round.timedOut() ? " at its sync.timeout (" + config.sync.timeout().toMillis() + " ms)" : "", round.missing(),
          round.averaged() ? "averaged over shards " + round.contributors() : "no average");
    }
    if (!notable && !config.telemetryEnabled()) return;
    ObjectNode event = directory.event("sync_round");
    event.put("round", round.round());
    event.put("parameters", round.parameters());
    event.put("contributors", round.contributors().size());
    ArrayNode contributors = event.putArray("shards");
    round.contributors().forEach(contributors::add);
    ArrayNode missing = event.putArray("missing");
    round.missing().forEach(missing::add);
    event.put("timed_out", round.timedOut());
    event.put("averaged", round.averaged());
    event.put("wall_ms", round.wallMs());
    directory.write(event);
  }

  // --- telemetry and watchers ---

  private Behavior<RunCommand> onTelemetryBatch(TelemetryBatch batch) {
    String stream = batch.workerId() + "/" + batch.shard() + "/" + batch.attempt();
    Long lastSeq = lastBatchSeq.get(stream);
    if (lastSeq != null && batch.seq() <= lastSeq) {
      // Sent again because our acknowledgement was late or lost: written already.
      batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
      return next();
    }
    lastBatchSeq.put(stream, batch.seq());
    for (TelemetryEvent event : batch.events()) {
      directory.telemetry(batch.workerId(), event);
      if (event instanceof TelemetryEvent.Step step) {
        shards.progressed(batch.shard(), batch.attempt(), step.step() + 1);
        pace(batch.shard(), batch.attempt(), step.step() + 1, step.tsUnixNs() / 1_000_000);
        lastLoss = step.loss();
      }
    }
    directory.flush();
    progressChanged = true;
    batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
    return next();
  }

  private Behavior<RunCommand> onWatch(Watch watch) {
    watchers.add(watch.subscriber());
    watch.subscriber().tell(progress());
    return next();
  }

  private Behavior<RunCommand> onProgressTick() {
    findStragglers();
    if (progressChanged) {
      RunUpdate.Progressed progress = progress();
      watchers.forEach(watcher -> watcher.tell(progress));
      coordinator.tell(new CoordinatorProtocol.StatusChanged(status()));
    }
    progressChanged = false;
    return next();
  }

  private RunUpdate.Progressed progress() {
    long elapsedMs = Math.max(1, clock.millis() - submittedAtMs);
    long steps = shards.stepsReached();
    double samplesPerSec = steps * (double) config.batchSize * 1000.0 / elapsedMs;
    return new RunUpdate.Progressed(runId, state, steps, shards.totalSteps(), lastLoss, samplesPerSec, elapsedMs);
  }

  // --- the end ---

  /** The run as clients see it. */
  private RunStatus status() {
    List<RunStatus.ShardStatus> shardStatus = shards.statuses(stragglers::isStraggler);
    RunUpdate.Progressed progress = progress();
    RunState shown = finalStatus != null && completed ? finalStatus : state;
    return new RunStatus(runId, config.name, shown, submittedAtMs, startedAtMs, finishedAtMs, progress.steps(),
        progress.totalSteps(), lastLoss, progress.samplesPerSec(), droppedEvents, nextMerge, finalReason, shardStatus,
        List.copyOf(participants.keySet()), directory.path().toString(),
        lastMerged.subList(0, Math.min(5, lastMerged.size())), counters());
  }

  private void complete() {
    finishedAtMs = clock.millis();
    long wallMs = finishedAtMs - submittedAtMs;
    double valLoss = Double.NaN;
    double valAccuracy = Double.NaN;
    if (!shardMetrics.isEmpty()) {
      valLoss = shardMetrics.values().stream().mapToDouble(RunLedger.ShardMetrics::valLoss).average().orElseThrow();
      valAccuracy = shardMetrics.values().stream().mapToDouble(RunLedger.ShardMetrics::valAccuracy).average().orElseThrow();
    }
    summary = new RunSummary(runId, finalStatus, finalReason, shards.stepsReached(), shards.stepsRedone(),
        samplesTrained, wallMs, droppedEvents, nextMerge, lastMerged, directory.path().toString(), valLoss, valAccuracy,
        counters());
    ObjectNode event = directory.event("run_completed");
    event.put("status", finalStatus.wireName());
    event.put("steps", summary.steps());
    event.put("total_steps", shards.totalSteps());
    event.put("steps_trained", stepsTrained);
    event.put("steps_redone", summary.stepsRedone());
    event.put("samples", summary.samples());
    event.put("dropped_events", summary.droppedEvents());
    event.put("merges", summary.merges());
    event.put("payloads", payloads.written());
    event.put("payloads_dropped", payloads.dropped());
    event.put("wall_ms", wallMs);
    if (!Float.isNaN(lastLoss)) event.put("final_loss", lastLoss);
    if (!shardMetrics.isEmpty()) {
      ObjectNode metrics = event.putObject("metrics");
      metrics.put("val_loss", valLoss);
      metrics.put("val_accuracy", valAccuracy);
      metrics.put("shards", shardMetrics.size());
    }
    if (finalStatus != RunState.COMPLETED) event.put("reason", finalReason);
    directory.write(event);
    directory.close();
    payloads.close();
    state = finalStatus;
    persistRun();
    WorkerCommand.ReleaseRun release = new WorkerCommand.ReleaseRun(incarnation, runId);
    assignedWorkers.values().forEach(worker -> worker.tell(release));
    RunUpdate.Finished finished = new RunUpdate.Finished(runId, summary);
    watchers.forEach(watcher -> watcher.tell(finished));
    completed = true;
    coordinator.tell(new CoordinatorProtocol.RunEnded(runId, summary, status()));
    getContext().getLog().info("run {} {}: {} steps, {} samples in {} ms{}", runId, finalStatus.wireName(),
        summary.steps(), summary.samples(), wallMs, finalReason.isEmpty() ? "" : " (" + finalReason + ")");
  }

  private Behavior<RunCommand> next() {
    return completed ? ended(summary) : this;
  }

  /** After the end: answer from the summary, acknowledge late telemetry, and stop once the coordinator knows. */
  private static Behavior<RunCommand> ended(RunSummary summary) {
    return Behaviors.receive(RunCommand.class)
        .onMessage(Watch.class, watch -> {
          watch.subscriber().tell(new RunUpdate.Finished(summary.runId(), summary));
          return Behaviors.same();
        })
        .onMessage(Stop.class, stop -> {
          stop.replyTo().tell(new CoordinatorCommand.StopReply(summary.runId(), false,
              "run " + summary.runId() + " is already " + summary.status().wireName()));
          return Behaviors.same();
        })
        .onMessage(TelemetryBatch.class, batch -> {
          batch.replyTo().tell(RunCommand.TelemetryAck.INSTANCE);
          return Behaviors.same();
        })
        .onMessage(OfferWorker.class, offer -> Behaviors.same())
        .onMessageEquals(CoordinatorProtocol.Retire.INSTANCE, Behaviors::stopped)
        .onAnyMessage(late -> Behaviors.same())
        .build();
  }

  private ObjectNode shardEvent(String type, int shard, int attempt, String workerId) {
    ObjectNode event = directory.event(type);
    if (workerId != null) event.put("worker_id", workerId);
    event.put("shard", shard);
    event.put("attempt", attempt);
    return event;
  }

}
