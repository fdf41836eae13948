package io.quarry.coordinator;

import io.quarry.coordinator.merge.SnapshotGather;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.LocalMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.WorkerCommand;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One all-gather: asks every worker of the run for its hard-example snapshot, puts each one back together from its
 * parts ({@link SnapshotGather}; it grants room to a worker whose snapshot takes more than a window of parts), and
 * answers the run once, when every worker's snapshot is whole or the worker is left out, or when the merge timeout
 * passes, naming each worker left out with why. Then it stops. A slow, dead or lost worker never blocks a merge.
 */
final class MergeAggregator {
  /** What the aggregator of one merge understands. */
  interface Command extends LocalMessage {}

  private record Answered(HardExampleSnapshotPart part) implements Command {}

  /** The run lost a worker while the merge gathers: it is left out now, not at the timeout. */
  record WorkerLost(String workerId, String reason) implements Command {}

  private enum TimedOut implements Command {
    INSTANCE
  }

  private MergeAggregator() {}

  /**
   * @param k the run's {@code hard-examples.k}: the most entries a worker's snapshot may hold
   */
  static Behavior<Command> create(
      String runId,
      int merge,
      long incarnation,
      Map<String, ActorRef<WorkerCommand>> workers,
      int k,
      Duration timeout,
      ActorRef<RunCommand> replyTo) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers -> {
      ActorRef<HardExampleSnapshotPart> answers =
          context.messageAdapter(HardExampleSnapshotPart.class, Answered::new);
      workers.values().forEach(worker ->
          worker.tell(new WorkerCommand.CollectHardExamples(incarnation, runId, merge, answers)));
      timers.startSingleTimer(TimedOut.INSTANCE, timeout);
      SnapshotGather gather = new SnapshotGather(merge, workers.keySet(), k);
      long ms = timeout.toMillis();
      String timeoutName = "hard-examples.merge-timeout = " + (ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms");
      return collecting(runId, merge, incarnation, workers, gather, timeoutName, replyTo);
    }));
  }

  private static Behavior<Command> collecting(
      String runId,
      int merge,
      long incarnation,
      Map<String, ActorRef<WorkerCommand>> workers,
      SnapshotGather gather,
      String timeoutName,
      ActorRef<RunCommand> replyTo) {
    if (gather.done()) return done(merge, gather, timeoutName, replyTo);
    return Behaviors.receive(Command.class)
        .onMessage(Answered.class, answered -> {
          HardExampleSnapshotPart part = answered.part();
          int credit = gather.offer(part);
          if (credit > 0) {
            workers.get(part.workerId()).tell(new WorkerCommand.SnapshotCredit(incarnation, runId, merge, credit));
          }
          return gather.done() ? done(merge, gather, timeoutName, replyTo) : Behaviors.same();
        })
        .onMessage(WorkerLost.class, lost -> {
          gather.lost(lost.workerId(), lost.reason());
          return gather.done() ? done(merge, gather, timeoutName, replyTo) : Behaviors.same();
        })
        .onMessage(TimedOut.class, timedOut -> done(merge, gather, timeoutName, replyTo))
        .build();
  }

  private static Behavior<Command> done(int merge, SnapshotGather gather, String timeoutName,
      ActorRef<RunCommand> replyTo) {
    replyTo.tell(new CoordinatorProtocol.MergeCollected(merge, gather.snapshots(), gather.missing(timeoutName),
        gather.parts()));
    return Behaviors.stopped();
  }
}
