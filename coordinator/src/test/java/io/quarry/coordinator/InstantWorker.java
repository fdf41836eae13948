package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.RequestWork;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import io.quarry.protocol.sketch.LossSketch;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * A test worker that speaks the worker protocol without training: it trains every shard it is given instantly
 * (reports it started, then completed at its last step) and asks for work again. A run with
 * {@code stub.hang-at-step >= 0} hangs instead: the shard is reported started and stays running until the run
 * stops it. It answers every hard-example all-gather with an empty buffer, and sizes the runs it is asked to.
 */
public final class InstantWorker extends AbstractBehavior<WorkerCommand> {
  private static final byte[] EMPTY_SKETCH = LossSketch.encode(LossSketch.create());

  /** The shard this worker holds while it hangs. */
  private record Held(String runId, int shard, int attempt, ActorRef<RunCommand> run) {}

  private final String workerId;
  private ActorRef<CoordinatorCommand> coordinator;
  private long incarnation = -1;
  private Held held;

  private InstantWorker(ActorContext<WorkerCommand> context, String workerId) {
    super(context);
    this.workerId = workerId;
    context.getSystem().receptionist().tell(Receptionist.register(ServiceKeys.WORKER, context.getSelf()));
  }

  public static Behavior<WorkerCommand> create(String workerId) {
    return Behaviors.setup(context -> new InstantWorker(context, workerId));
  }

  @Override
  public Receive<WorkerCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(WorkerCommand.CoordinatorAnnounced.class, this::onAnnounced)
        .onMessage(WorkerCommand.SizeRun.class, this::onSizeRun)
        .onMessage(WorkerCommand.AssignShard.class, this::onAssign)
        .onMessage(WorkerCommand.StopShard.class, this::onStop)
        .onMessage(WorkerCommand.CollectHardExamples.class, this::onCollect)
        .onMessage(WorkerCommand.MergedHardExamples.class, merged -> this)
        .onMessage(WorkerCommand.ReleaseRun.class, release -> this)
        .build();
  }

  private Behavior<WorkerCommand> onAnnounced(WorkerCommand.CoordinatorAnnounced announced) {
    if (announced.incarnation() < incarnation) return this;
    incarnation = announced.incarnation();
    coordinator = announced.coordinator();
    if (held == null) askForWork();
    return this;
  }

  /** Sizes the run as a worker does: with the trainer's spec, here on the actor's thread (the stub reads no files). */
  private Behavior<WorkerCommand> onSizeRun(WorkerCommand.SizeRun size) {
    String runId = size.spec().runId();
    try {
      size.replyTo().tell(new WorkerCommand.RunSized(runId,
          RunConfig.parse(size.spec().configHocon()).datasetSamples(), "", workerId));
    } catch (io.quarry.config.RunConfigException e) {
      size.replyTo().tell(new WorkerCommand.RunSized(runId, -1, e.getMessage(), workerId));
    }
    return this;
  }

  private Behavior<WorkerCommand> onAssign(WorkerCommand.AssignShard assign) {
    if (assign.incarnation() != incarnation) return this;
    ShardAssignment shard = assign.assignment();
    RunConfig config = RunConfig.parse(assign.spec().configHocon());
    String runId = assign.spec().runId();
    long steps = ((shard.sampleCount() + config.batchSize - 1) / config.batchSize) * config.epochs;
    assign.run().tell(new RunCommand.ShardStarted(runId, shard.shard(), shard.attempt(), workerId, 0));
    if (config.raw().getLong("stub.hang-at-step") >= 0) {
      held = new Held(runId, shard.shard(), shard.attempt(), assign.run());
      return this;
    }
    assign.run().tell(new RunCommand.ShardCompleted(runId, shard.shard(), shard.attempt(), workerId, steps, steps,
        shard.sampleCount() * config.epochs, RunCounters.ZERO, 1.0f, Float.NaN, Float.NaN));
    askForWork();
    return this;
  }

  private Behavior<WorkerCommand> onStop(WorkerCommand.StopShard stop) {
    if (held != null && held.runId().equals(stop.runId()) && held.shard() == stop.shard()) {
      held.run().tell(new RunCommand.ShardStopped(held.runId(), held.shard(), held.attempt(), workerId, 0, 0, 0,
          RunCounters.ZERO));
      held = null;
      askForWork();
    }
    return this;
  }

  private Behavior<WorkerCommand> onCollect(WorkerCommand.CollectHardExamples collect) {
    io.quarry.protocol.HardExampleParts.cut(new HardExampleSnapshot(collect.runId(), collect.merge(), workerId,
        List.of(), 0, 0, Float.NaN, EMPTY_SKETCH), 1 << 20).forEach(collect.replyTo()::tell);
    return this;
  }

  private void askForWork() {
    coordinator.tell(new RequestWork(incarnation, workerId, "cpu", getContext().getSelf()));
  }
}
