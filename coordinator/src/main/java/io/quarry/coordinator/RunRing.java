package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.run.RingRoster;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.protocol.RingPeer;
import io.quarry.protocol.RunCommand.RingAborted;
import io.quarry.protocol.RunCommand.RingJoin;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.ShardState;
import io.quarry.protocol.WorkerCommand;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.slf4j.Logger;

/**
 * The run's all-reduce ring ({@code sync.transport = ring}), for its run actor: the run only says who is on it. The
 * {@link RingRoster} decides the members, their order and the epoch; this class ties it to the actor's timers (the
 * first ring's wait of {@code sync.timeout}, the re-form after an aborted round), tells every member the ring it is on
 * and writes a {@code ring_formed} event. No parameter byte passes through here.
 */
final class RunRing {
  /** The first ring has waited {@code sync.timeout} for the shards without a worker. */
  enum FormationDue implements RunCommand.Local {
    INSTANCE
  }

  /** Time to put the members of aborted ring {@code epoch} on a new one (also the timer's key). */
  record ReformDue(long epoch) implements RunCommand.Local {}

  private final String runId;
  private final long incarnation;
  private final RunConfig config;
  private final ShardTable shards;
  private final RingRoster<ActorRef<WorkerCommand>> roster;
  private final TimerScheduler<RunCommand> timers;
  private final RunDirectory directory;
  private final RunRecords records;
  private final Logger log;

  RunRing(String runId, long incarnation, RunConfig config, ShardTable shards, TimerScheduler<RunCommand> timers,
      RunDirectory directory, RunRecords records, Logger log) {
    this.runId = runId;
    this.incarnation = incarnation;
    this.config = config;
    this.shards = shards;
    this.roster = new RingRoster<>(incarnation);
    this.timers = timers;
    this.directory = directory;
    this.records = records;
    this.log = log;
  }

  /** The current attempt of a shard is ready for the ring; the first ring waits for all or for its timeout. */
  void join(RingJoin join) {
    boolean formed = roster.formed();
    Optional<RingRoster.Ring<ActorRef<WorkerCommand>>> next = roster.join(new RingRoster.Member<>(join.shard(),
        join.attempt(), join.replyTo(), join.host(), join.port()), unfinishedShards());
    next.ifPresent(ring -> publish(ring, formed ? "member_joined" : "formed"));
    if (next.isEmpty() && !roster.formed() && !timers.isTimerActive(FormationDue.INSTANCE)) {
      timers.startSingleTimer(FormationDue.INSTANCE, config.sync.timeout());
    }
  }

  void formationDue() {
    roster.formationTimedOut().ifPresent(ring -> publish(ring, "formed"));
  }

  /** A member's round of the current attempt aborted: the ring re-forms a moment later (once per epoch). */
  void aborted(RingAborted aborted) {
    log.info("run {}: all-reduce ring epoch {} aborted on shard {}: {}", runId, aborted.epoch(), aborted.shard(),
        aborted.reason());
    if (roster.aborted(aborted.shard(), aborted.attempt(), aborted.epoch())) {
      timers.startSingleTimer(new ReformDue(aborted.epoch()), Duration.ofMillis(RingRoster.REFORM_DELAY_MS));
    }
  }

  void reformDue(ReformDue due) {
    roster.reform(due.epoch()).ifPresent(ring -> publish(ring, "round_aborted"));
  }

  /** The shard's attempt ended or was given up on: the ring goes on without it. */
  void leave(int shard) {
    roster.leave(shard, unfinishedShards()).ifPresent(ring -> publish(ring, "member_left"));
  }

  /** Tells every member of the ring who is on it, and writes a {@code ring_formed} event. */
  private void publish(RingRoster.Ring<ActorRef<WorkerCommand>> ring, String why) {
    timers.cancel(FormationDue.INSTANCE);
    List<RingPeer> peers = new ArrayList<>();
    for (RingRoster.Member<ActorRef<WorkerCommand>> m : ring.members()) {
      peers.add(new RingPeer(m.shard(), m.attempt(), m.host(), m.port()));
    }
    for (RingRoster.Member<ActorRef<WorkerCommand>> m : ring.members()) {
      m.replyTo().tell(new WorkerCommand.RingFormed(incarnation, runId, m.shard(), m.attempt(), ring.epoch(), peers));
    }
    List<Integer> memberShards = peers.stream().map(RingPeer::shard).toList();
    log.info("run {}: all-reduce ring epoch {} ({}): shards {}", runId, ring.epoch(), why, memberShards);
    directory.writeEvent(records.ringFormed(ring.epoch(), memberShards, peers.stream().map(RingPeer::attempt).toList(),
        why));
  }

  /** The run's shards that are not done, pending ones included. */
  private int unfinishedShards() {
    return (int) shards.shards().stream().filter(shard -> shard.state() != ShardState.DONE).count();
  }
}
