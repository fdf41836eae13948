package io.quarry.coordinator;

import io.quarry.coordinator.CoordinatorProtocol.OfferWorker;
import io.quarry.coordinator.CoordinatorProtocol.WorkerLost;
import io.quarry.coordinator.run.RankGroup;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.RunCommand.RankEndpoint;
import io.quarry.protocol.RunCommand.ShardFailed;
import io.quarry.protocol.RunCommand.ShardStopped;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The run actor's process group ({@code process.distributed = torch}): gathers a worker per rank, hands rank 0 out
 * first and the others with its rendezvous, stops every rank when one is lost, and starts them all again from rank
 * 0's checkpoint, whole or, with {@code process.min-ranks} below the ranks, smaller once {@code process.last-call} has
 * passed without the missing workers. The group's state is a {@link RankGroup}; the shards' a {@link ShardTable}.
 *
 * <p>It runs inside the run actor (its handlers are the run actor's, called on its thread). Each handler answers
 * what the run does next: empty to go on ({@code next()}), or the reason the run fails.
 */
final class ProcessGroupRun {
  /** The last call of a restarting group that may start smaller has passed (also the timer's key). */
  enum LastCall implements RunCommand.Local {
    INSTANCE
  }

  /** What the run actor does for its group: the parts it shares with shards that train on their own. */
  interface RunSide {
    /** Hands the PENDING shard to the worker as the rank; only rank 0's assignment is sent at once. */
    void assign(int shard, String workerId, ActorRef<WorkerCommand> worker, DistributedRank rank);

    /** The assignment of the shard's current attempt, without a rank. */
    ShardAssignment assignment(ShardTable.Shard shard);

    /** Stops every active attempt of the run with {@code reason}. */
    void stopActiveShards(String reason);

    /** The worker trained nothing of the run: it takes no part in its merges. */
    void unlist(String workerId);

    /** Writes the run's record. */
    void persist();

    /** The run's progress changed (its status goes out at the next tick). */
    void changed();
  }

  private final RankGroup<ActorRef<WorkerCommand>> group;
  private final ShardTable shards;
  private final RunSide run;
  private final ActorContext<RunCommand> context;
  private final TimerScheduler<RunCommand> timers;
  private final ActorRef<CoordinatorCommand> coordinator;
  private final RunDirectory directory;
  private final RunRecords records;
  private final RunLedger ledger;
  private final RunProgress progress;
  private final RunSpec spec;
  private final long incarnation;
  private final int maxAttempts;
  private final Duration lastCall;
  /** Why the current start has fewer ranks than the group; empty when it is whole. */
  private String smallerBecause = "";

  ProcessGroupRun(int ranks, int minRanks, int maxAttempts, Duration lastCall, ShardTable shards, RunSide run,
      ActorContext<RunCommand> context, TimerScheduler<RunCommand> timers, ActorRef<CoordinatorCommand> coordinator,
      RunDirectory directory, RunRecords records, RunLedger ledger, RunProgress progress, RunSpec spec,
      long incarnation) {
    this.group = new RankGroup<>(ranks, minRanks, maxAttempts);
    this.shards = shards;
    this.run = run;
    this.context = context;
    this.timers = timers;
    this.coordinator = coordinator;
    this.directory = directory;
    this.records = records;
    this.ledger = ledger;
    this.progress = progress;
    this.spec = spec;
    this.incarnation = incarnation;
    this.maxAttempts = maxAttempts;
    this.lastCall = lastCall;
  }

  private String runId() {
    return spec.runId();
  }

  /**
   * A worker offered to the group is held for a rank; once there is one per rank, the group starts. A restart that
   * holds enough for a smaller start waits {@code process.last-call} for the rest first.
   */
  Optional<String> offer(OfferWorker offer, boolean ending) {
    boolean accepted = !ending
        && group.offer(offer.workerId(), offer.worker().path().address().getHost().orElse(""), offer.worker());
    coordinator.tell(new CoordinatorProtocol.OfferAnswered(runId(), offer.workerId(), accepted, offer.offerId()));
    if (!accepted) return Optional.empty();
    run.changed();
    if (shards.anyActive()) return Optional.empty();
    if (group.full()) {
      start("");
    } else if (group.mayStartSmaller() && !timers.isTimerActive(LastCall.INSTANCE)) {
      timers.startSingleTimer(LastCall.INSTANCE, lastCall);
    }
    return Optional.empty();
  }

  /** The last call passed: a restart that still holds at least min-ranks workers starts with them. */
  Optional<String> onLastCall(boolean ending) {
    if (ending || !group.mayStartSmaller() || shards.anyActive()) return Optional.empty();
    start("only " + group.holding() + " of the " + group.ranks() + " workers the group needs were free when "
        + "process.last-call (" + lastCall.toMillis() + " ms) ended, and process.min-ranks = " + group.minRanks());
    return Optional.empty();
  }

  /** Every rank from rank 0's checkpoint (the table re-cut to the world size when it changed); rank 0 goes out. */
  private void start(String smaller) {
    timers.cancel(LastCall.INSTANCE);
    List<RankGroup.Member<ActorRef<WorkerCommand>>> members = group.start();
    smallerBecause = smaller;
    int before = shards.worldSize();
    shards.regroup(members.size()); // also in a run resumed or recovered
    if (before != members.size()) {
      context.getLog().warn("run {}: process group starts with {} of its {} ranks{}", runId(), members.size(),
          group.ranks(), smaller.isEmpty() ? "" : ": " + smaller);
      ledger.shards(shards, IntStream.range(members.size(), shards.size()).boxed().toList());
    }
    for (int rank = 0; rank < members.size(); rank++) {
      run.assign(rank, members.get(rank).workerId(), members.get(rank).worker(), group.rank(rank));
    }
  }

  /** Rank 0's worker picked the rendezvous port: the other ranks go out with it. */
  Optional<String> onEndpoint(RankEndpoint endpoint, boolean ending) {
    if (ending || !shards.isActiveAttempt(endpoint.shard(), endpoint.attempt(), endpoint.workerId())
        || !group.endpoint(endpoint.host(), endpoint.port())) {
      return Optional.empty();
    }
    List<RankGroup.Member<ActorRef<WorkerCommand>>> members = group.members();
    for (int rank = 1; rank < members.size(); rank++) {
      members.get(rank).worker().tell(new WorkerCommand.AssignShard(incarnation, spec,
          run.assignment(shards.shard(rank)).withRank(group.rank(rank)), context.getSelf()));
    }
    directory.writeEvent(records.groupStarted(group.restartCount(), endpoint.host(), endpoint.port(),
        members.stream().map(RankGroup.Member::workerId).toList(), shards.shard(0).checkpointStep(), group.ranks(),
        smallerBecause));
    return Optional.empty();
  }

  /**
   * A rank's program failed: the first loss of a start restarts the group (or fails the run once the group has
   * started max-attempts times); a rank that fails while the group restarts only ends its part.
   */
  Optional<String> onRankFailed(ShardFailed report, boolean ending) {
    if (group.phase() == RankGroup.Phase.RESTARTING) {
      if (shards.released(report.shard(), report.attempt(), report.workerId(), report.stepsTrained())) {
        ShardTable.Shard shard = shards.shard(report.shard());
        directory.writeEvent(records.shardStopped(report.shard(), report.attempt(), report.workerId(),
            shard.progressStep()));
        ledger.shard(shard);
      }
      return restartWhenStopped(ending);
    }
    ShardTable.FailureOutcome outcome =
        shards.failed(report.shard(), report.attempt(), report.workerId(), report.stepsTrained(), report.reason());
    if (outcome == ShardTable.FailureOutcome.STALE) return Optional.empty();
    ShardTable.Shard shard = shards.shard(report.shard());
    directory.writeEvent(records.shardFailed(report.shard(), report.attempt(), report.workerId(), report.reason(),
        shard.failures(), maxAttempts));
    ledger.shard(shard);
    run.persist();
    if (outcome == ShardTable.FailureOutcome.EXHAUSTED) {
      return Optional.of("rank " + report.shard() + " failed " + shard.failures() + " time(s) (max-attempts = "
          + maxAttempts + "); last error: " + report.reason());
    }
    return rankLost("rank " + report.shard() + " failed on worker " + report.workerId() + ": " + report.reason(),
        ending);
  }

  /** A rank's attempt stopped (the table already took it): part of a restart, or a loss that starts one. */
  Optional<String> onRankStopped(ShardStopped report, boolean ending) {
    return group.phase() == RankGroup.Phase.RESTARTING ? restartWhenStopped(ending)
        : rankLost("rank " + report.shard() + " was stopped on worker " + report.workerId(), ending);
  }

  /** A worker was lost before the table orphaned its shards: a held one's place is free again. */
  void workerLost(WorkerLost lost) {
    group.workerLost(lost.workerId());
  }

  /** The lost worker's ranks ({@code orphaned}, already back to PENDING) are a loss of the group. */
  Optional<String> onRanksOrphaned(WorkerLost lost, List<Integer> orphaned, boolean ending) {
    return orphaned.isEmpty() ? restartWhenStopped(ending)
        : rankLost("worker " + lost.workerId() + " of rank " + orphaned.get(0) + " was lost: " + lost.reason(), ending);
  }

  /** Ranks no worker reclaimed after a coordinator failover are a loss of the group. */
  Optional<String> onUnclaimed(List<Integer> requeued, boolean ending) {
    return requeued.isEmpty() ? Optional.empty()
        : rankLost("rank(s) " + requeued + " were not reclaimed by their workers after a coordinator failover", ending);
  }

  /** A new coordinator incarnation found ranks of the group running: it counts as started. */
  void adopted() {
    group.adopted();
  }

  /** The group lost a rank ({@code cause}): every other rank is stopped at once (SIGTERM, SIGKILL after the grace). */
  private Optional<String> rankLost(String cause, boolean ending) {
    if (ending || !group.rankLost(cause)) return restartWhenStopped(ending);
    if (group.exhausted()) {
      return Optional.of("the process group started " + maxAttempts + " time(s) (max-attempts = " + maxAttempts
          + ") and lost a rank again: " + cause);
    }
    context.getLog().warn("run {}: process group restarts: {}", runId(), cause);
    run.stopActiveShards("the process group restarts: " + cause);
    return restartWhenStopped(ending);
  }

  /**
   * Ranks 1.. that never went out (rank 0's endpoint had not come) have nothing to stop: their attempts end here, and
   * their workers, which were told nothing, are given back. Called before the run stops its active attempts.
   */
  void releaseUnsentRanks() {
    List<String> unused = new ArrayList<>();
    List<RankGroup.Member<ActorRef<WorkerCommand>>> unsent = group.unsent();
    for (int i = 0; i < unsent.size(); i++) {
      int rank = i + 1;
      ShardTable.Shard shard = shards.shard(rank);
      if (shards.released(rank, shard.attempt(), unsent.get(i).workerId(), 0)) {
        run.unlist(unsent.get(i).workerId());
        unused.add(unsent.get(i).workerId());
        ledger.shard(shard);
      }
    }
    if (!unused.isEmpty()) coordinator.tell(new CoordinatorProtocol.WorkersUnused(runId(), unused));
  }

  /** Once no rank of a restarting group is active, every shard starts again from rank 0's last checkpoint. */
  Optional<String> restartWhenStopped(boolean ending) {
    if (ending || group.phase() != RankGroup.Phase.RESTARTING || shards.anyActive()) return Optional.empty();
    if (shards.anyCompleted()) {
      return Optional.of("the process group lost a rank after other ranks had completed, so it cannot start again: "
          + group.cause());
    }
    long lost = Math.max(0, shards.progressSteps().get(0) - shards.shard(0).checkpointStep());
    shards.resumeAllFrom(0);
    String cause = group.restart();
    progress.count(RunCounter.GROUP_RESTARTS, 1);
    ShardTable.Shard zero = shards.shard(0);
    directory.writeEvent(records.groupRestarted(group.restartCount(), group.maxRestarts(), cause,
        zero.checkpointStep(), zero.lastCheckpoint(), lost));
    ledger.shards(shards, shards.shards().stream().map(shard -> shard.index).toList());
    run.persist();
    run.changed();
    coordinator.tell(new CoordinatorProtocol.WantsWorkers(runId()));
    return Optional.empty();
  }

  /** The run ended: the workers it held while gathering are given back (the registry makes them idle again). */
  void giveBackHeld() {
    timers.cancel(LastCall.INSTANCE);
    if (!group.held().isEmpty()) coordinator.tell(new CoordinatorProtocol.WorkersUnused(runId(), group.held()));
  }

  /** What the group still waits for, for the run's status; empty when it waits for nothing. */
  Optional<String> waitingFor() {
    return group.missing() > 0 ? Optional.of(group.waitingFor()) : Optional.empty();
  }
}
