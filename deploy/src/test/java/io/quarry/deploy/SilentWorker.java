package io.quarry.deploy;

import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * A test worker that trains every shard it is given instantly (it reports the shard done at its last step) but
 * never answers a hard-example all-gather: the merge must go on without it and name it.
 */
final class SilentWorker {
  private SilentWorker() {}

  static Behavior<WorkerCommand> create(String workerId) {
    return Behaviors.setup(context -> {
      context.getSystem().receptionist().tell(Receptionist.register(ServiceKeys.WORKER, context.getSelf()));
      return Behaviors.receive(WorkerCommand.class)
          .onMessage(WorkerCommand.CoordinatorAnnounced.class, announced -> {
            announced.coordinator().tell(new CoordinatorCommand.RequestWork(
                announced.incarnation(), workerId, "cpu", context.getSelf()));
            return coordinated(workerId, announced.coordinator(), announced.incarnation(), context.getSelf());
          })
          .build();
    });
  }

  private static Behavior<WorkerCommand> coordinated(
      String workerId, ActorRef<CoordinatorCommand> coordinator, long incarnation, ActorRef<WorkerCommand> self) {
    return Behaviors.receive(WorkerCommand.class)
        .onMessage(WorkerCommand.AssignShard.class, assign -> {
          ShardAssignment a = assign.assignment();
          RunConfig config = RunConfig.parse(assign.spec().configHocon());
          long steps = ((a.sampleCount() + config.batchSize - 1) / config.batchSize) * config.epochs;
          String runId = assign.spec().runId();
          assign.run().tell(new RunCommand.ShardStarted(runId, a.shard(), a.attempt(), workerId, 0));
          assign.run().tell(new RunCommand.ShardCompleted(runId, a.shard(), a.attempt(), workerId, steps, steps,
              a.sampleCount() * config.epochs, io.quarry.protocol.RunCounters.ZERO, 1.0f, Float.NaN, Float.NaN));
          coordinator.tell(new CoordinatorCommand.RequestWork(incarnation, workerId, "cpu", self));
          return Behaviors.same();
        })
        .onMessage(WorkerCommand.CollectHardExamples.class, ignored -> Behaviors.same())
        .onAnyMessage(other -> Behaviors.same())
        .build();
  }
}
