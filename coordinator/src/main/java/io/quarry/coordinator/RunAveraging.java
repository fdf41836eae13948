package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.run.AveragingRelay;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.SyncRounds;
import io.quarry.protocol.RunCommand.SyncChunk;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.WorkerCommand;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.slf4j.Logger;

/**
 * Parameter averaging relayed by the run actor ({@code sync.mode = average} with {@code sync.transport =
 * coordinator}, the fallback to the all-reduce ring): the {@link AveragingRelay} sums each round's chunks; this class
 * ties it to the actor's timers (a round's {@code sync.timeout}), the run's counters and its {@code sync_round}
 * events, and delivers the averaged chunks.
 */
final class RunAveraging {
  /** An averaging round's {@code sync.timeout} has passed (also the timer's key). */
  record SyncTimedOut(long round) implements RunCommand.Local {}

  private final String runId;
  private final RunConfig config;
  private final AveragingRelay<ActorRef<WorkerCommand>> relay;
  private final TimerScheduler<RunCommand> timers;
  private final RunProgress progress;
  private final RunRecords records;
  private final RunDirectory directory;
  private final Logger log;

  RunAveraging(String runId, long incarnation, RunConfig config, TimerScheduler<RunCommand> timers,
      RunProgress progress, RunRecords records, RunDirectory directory, Logger log) {
    this.runId = runId;
    this.config = config;
    this.relay = new AveragingRelay<>(incarnation, runId, System::nanoTime);
    this.timers = timers;
    this.progress = progress;
    this.records = records;
    this.directory = directory;
    this.log = log;
  }

  /** A chunk of the current attempt of a shard; {@code active}: the shards the round may wait for. */
  void chunk(SyncChunk chunk, Set<Integer> active) {
    progress.count(RunCounter.SYNC_BYTES_RECEIVED, 4L * chunk.values().length);
    deliver(relay.contribute(chunk.shard(), chunk.attempt(), chunk.replyTo(), chunk.round(), chunk.chunk(),
        chunk.chunks(), chunk.totalLength(), chunk.values(), active));
  }

  void timedOut(SyncTimedOut timedOut) {
    deliver(relay.timeOut(timedOut.round()));
  }

  /** The shard's attempt ended ({@code finished}: it completed) or was given up on: no round waits for it. */
  void leave(int shard, boolean finished) {
    deliver(relay.leave(shard, finished));
  }

  private void deliver(AveragingRelay.Outcome<ActorRef<WorkerCommand>> outcome) {
    outcome.opened().ifPresent(round -> timers.startSingleTimer(new SyncTimedOut(round), config.sync.timeout()));
    for (SyncRounds.Completed round : outcome.completed()) {
      timers.cancel(new SyncTimedOut(round.round()));
      record(round);
    }
    for (AveragingRelay.Delivery<ActorRef<WorkerCommand>> delivery : outcome.deliveries()) {
      if (delivery.message() instanceof WorkerCommand.AveragedChunk averaged) {
        progress.count(RunCounter.SYNC_BYTES_SENT, 4L * averaged.values().length);
      }
      delivery.to().tell(delivery.message());
    }
  }

  /** A {@code sync_round} event: always when a shard was missing or there was no average, else unless in fast mode. */
  private void record(SyncRounds.Completed round) {
    progress.count(RunCounter.SYNC_ROUNDS, 1);
    progress.count(RunCounter.SYNC_MS_TOTAL, round.wallMs());
    if (!round.missing().isEmpty() || round.timedOut()) progress.count(RunCounter.SYNC_ROUNDS_INCOMPLETE, 1);
    boolean notable = AveragingRelay.notable(round);
    if (notable) {
      log.warn("run {}: averaging round {} completed{}; missing shards {}; {}", runId, round.round(),
          round.timedOut() ? " at its sync.timeout (" + config.sync.timeout().toMillis() + " ms)" : "",
          round.missing(), round.averaged() ? "averaged over shards " + round.contributors() : "no average");
    }
    if (notable || config.telemetryEnabled()) directory.writeEvent(records.syncRound(round));
  }
}
