package io.quarry.coordinator;

import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.LocalMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.WorkerCommand;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One all-gather: asks every worker of the run for its hard-example snapshot, collects the answers until all
 * have arrived or the merge timeout passes, answers the run once with what it has (naming the workers that did
 * not answer) and stops. A slow or dead worker never blocks a merge.
 */
final class MergeAggregator {
  private interface Command extends LocalMessage {}

  private record Answered(HardExampleSnapshot snapshot) implements Command {}

  private enum TimedOut implements Command {
    INSTANCE
  }

  private MergeAggregator() {}

  static Behavior<Command> create(
      String runId,
      int merge,
      long incarnation,
      Map<String, ActorRef<WorkerCommand>> workers,
      Duration timeout,
      ActorRef<RunCommand> replyTo) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers -> {
      ActorRef<HardExampleSnapshot> answers = context.messageAdapter(HardExampleSnapshot.class, Answered::new);
      workers.values().forEach(worker ->
          worker.tell(new WorkerCommand.CollectHardExamples(incarnation, runId, merge, answers)));
      timers.startSingleTimer(TimedOut.INSTANCE, timeout);
      return collecting(merge, new LinkedHashMap<>(workers), new ArrayList<>(), replyTo);
    }));
  }

  private static Behavior<Command> collecting(
      int merge,
      Map<String, ActorRef<WorkerCommand>> waitingFor,
      List<HardExampleSnapshot> snapshots,
      ActorRef<RunCommand> replyTo) {
    if (waitingFor.isEmpty()) return done(merge, snapshots, List.of(), replyTo);
    return Behaviors.receive(Command.class)
        .onMessage(Answered.class, answered -> {
          HardExampleSnapshot snapshot = answered.snapshot();
          if (snapshot.merge() == merge && waitingFor.remove(snapshot.workerId()) != null) snapshots.add(snapshot);
          return collecting(merge, waitingFor, snapshots, replyTo);
        })
        .onMessage(TimedOut.class, timedOut -> done(merge, snapshots, new ArrayList<>(waitingFor.keySet()), replyTo))
        .build();
  }

  private static Behavior<Command> done(
      int merge, List<HardExampleSnapshot> snapshots, List<String> missing, ActorRef<RunCommand> replyTo) {
    replyTo.tell(new CoordinatorProtocol.MergeCollected(merge, snapshots, missing));
    return Behaviors.stopped();
  }
}
