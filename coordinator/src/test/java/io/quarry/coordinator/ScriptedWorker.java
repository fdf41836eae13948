package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.LocalMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.ServiceKeys;
import io.quarry.protocol.ShardAssignment;
import io.quarry.protocol.WorkerCommand;
import io.quarry.protocol.sketch.LossSketch;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * A test worker that a test plays step by step. It registers with the receptionist, asks the coordinator for work,
 * tells {@code monitor} (a TestProbe) every command it receives, reports a shard attempt started when it is given one,
 * and then reports what the test tells it to ({@link Control}): progress, a checkpoint, completion, a failure. Asked
 * to stop, it reports the attempt stopped. Its {@link Script} says what it does on its own: size runs or not, answer
 * hard-example all-gathers or never (how a merge times out), and report progress at a pace until its shard is done.
 */
public final class ScriptedWorker extends AbstractBehavior<Object> {
  /**
   * What the worker does without being told.
   *
   * @param sizesRuns answers {@link WorkerCommand.SizeRun} (with {@code sizedSamples} if not negative, else with the
   *     run config's own size)
   * @param sizedSamples the size it answers; negative for the config's
   * @param answersMerges answers every all-gather, with an entry of its own (sample id 1000 + shard) per shard it has
   *     reported progress of
   * @param stepEvery when not null, it reports one step's progress at this pace and completes the shard at its end
   * @param anyProgram it says it allows every program (as a local-mode worker does); else none
   */
  public record Script(boolean sizesRuns, long sizedSamples, boolean answersMerges, Duration stepEvery,
      boolean anyProgram) {
    /** Sizes runs as the config says, answers merges, and reports only what the test tells it to. */
    public static final Script MANUAL = new Script(true, -1, true, null, false);

    public Script silentInMerges() {
      return new Script(sizesRuns, sizedSamples, false, stepEvery, anyProgram);
    }

    public Script notSizing() {
      return new Script(false, sizedSamples, answersMerges, stepEvery, anyProgram);
    }

    public Script sizing(long samples) {
      return new Script(true, samples, answersMerges, stepEvery, anyProgram);
    }

    public Script pacedAt(Duration every) {
      return new Script(sizesRuns, sizedSamples, answersMerges, every, anyProgram);
    }

    /** Runs of {@code trainer = process} may be offered to it. */
    public Script allowingAnyProgram() {
      return new Script(sizesRuns, sizedSamples, answersMerges, stepEvery, true);
    }
  }

  /** What a test tells the worker to report about the attempt it holds. */
  public sealed interface Control extends LocalMessage {}

  /** The attempt has reached {@code step} with {@code loss}; the worker's counters for the run are {@code counters}. */
  public record Progress(long step, float loss, RunCounters counters) implements Control {}

  /** The attempt wrote a checkpoint at {@code step} (in its checkpoint directory). */
  public record Checkpoint(long step) implements Control {}

  /** The attempt trained its shard to the end. */
  public record Complete(RunCounters counters) implements Control {}

  /** The attempt's trainer failed. */
  public record Fail(String reason) implements Control {}

  /** Send the payloads of this worker's entries of merge {@code merge} (one features payload each). */
  public record SendPayloads(int merge) implements Control {}

  private enum Step implements LocalMessage {
    INSTANCE
  }

  /** The attempt this worker trains. */
  private record Held(String runId, ShardAssignment assignment, long totalSteps, int batchSize,
      ActorRef<RunCommand> run) {}

  private static final byte[] EMPTY_SKETCH = LossSketch.encode(LossSketch.create());

  private final String workerId;
  private final Script script;
  private final ActorRef<WorkerCommand> monitor;
  private final TimerScheduler<Object> timers;
  private ActorRef<CoordinatorCommand> coordinator;
  private long incarnation = -1;
  private Held held;
  private long step;
  /** Its hard-example buffer: one entry per shard it has reported progress of, kept until the run releases it. */
  private final java.util.Map<Integer, HardExample> buffer = new java.util.TreeMap<>();
  /** The latest merged buffer, for {@link SendPayloads}. */
  private WorkerCommand.MergedHardExamples lastMerged;

  private ScriptedWorker(ActorContext<Object> context, TimerScheduler<Object> timers, String workerId, Script script,
      ActorRef<WorkerCommand> monitor) {
    super(context);
    this.timers = timers;
    this.workerId = workerId;
    this.script = script;
    this.monitor = monitor;
    context.getSystem().receptionist().tell(Receptionist.register(ServiceKeys.WORKER, self()));
  }

  /** A worker {@code workerId} playing {@code script}, telling {@code monitor} every command it receives. */
  public static Behavior<Object> create(String workerId, Script script, ActorRef<WorkerCommand> monitor) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers ->
        new ScriptedWorker(context, timers, workerId, script, monitor)));
  }

  @Override
  public Receive<Object> createReceive() {
    return newReceiveBuilder()
        .onMessage(WorkerCommand.CoordinatorAnnounced.class, this::onAnnounced)
        .onMessage(WorkerCommand.SizeRun.class, this::onSizeRun)
        .onMessage(WorkerCommand.AssignShard.class, this::onAssign)
        .onMessage(WorkerCommand.StopShard.class, this::onStop)
        .onMessage(WorkerCommand.CollectHardExamples.class, this::onCollect)
        .onMessage(WorkerCommand.class, this::onOther)
        .onMessage(Progress.class, this::onProgress)
        .onMessage(Checkpoint.class, this::onCheckpoint)
        .onMessage(Complete.class, this::onComplete)
        .onMessage(Fail.class, this::onFail)
        .onMessage(SendPayloads.class, this::onSendPayloads)
        .onMessageEquals(Step.INSTANCE, this::onStep)
        .build();
  }

  private ActorRef<WorkerCommand> self() {
    return getContext().getSelf().narrow();
  }

  private Behavior<Object> onAnnounced(WorkerCommand.CoordinatorAnnounced announced) {
    monitor.tell(announced);
    if (announced.incarnation() < incarnation) return this;
    incarnation = announced.incarnation();
    coordinator = announced.coordinator();
    if (held == null) askForWork();
    return this;
  }

  private Behavior<Object> onSizeRun(WorkerCommand.SizeRun size) {
    monitor.tell(size);
    if (!script.sizesRuns()) return this;
    String runId = size.spec().runId();
    try {
      long samples = script.sizedSamples() >= 0 ? script.sizedSamples()
          : RunConfig.parse(size.spec().configHocon()).datasetSamples();
      size.replyTo().tell(new WorkerCommand.RunSized(runId, samples, "", workerId));
    } catch (RunConfigException e) {
      size.replyTo().tell(new WorkerCommand.RunSized(runId, -1, e.getMessage(), workerId));
    }
    return this;
  }

  private Behavior<Object> onAssign(WorkerCommand.AssignShard assign) {
    monitor.tell(assign);
    if (assign.incarnation() != incarnation) return this;
    ShardAssignment a = assign.assignment();
    RunConfig config = RunConfig.parse(assign.spec().configHocon());
    long totalSteps = ((a.sampleCount() + config.batchSize - 1) / config.batchSize) * config.epochs;
    held = new Held(assign.spec().runId(), a, totalSteps, config.batchSize, assign.run());
    step = a.resumeStep();
    assign.run().tell(new RunCommand.ShardStarted(held.runId(), a.shard(), a.attempt(), workerId, step));
    if (script.stepEvery() != null) timers.startTimerWithFixedDelay(Step.INSTANCE, script.stepEvery());
    return this;
  }

  private Behavior<Object> onStep() {
    if (held == null) return this;
    if (step >= held.totalSteps()) return onComplete(new Complete(RunCounters.ZERO));
    return onProgress(new Progress(step + 1, 1.0f, RunCounters.ZERO));
  }

  private Behavior<Object> onProgress(Progress progress) {
    if (held == null) return this;
    step = progress.step();
    ShardAssignment a = held.assignment();
    buffer.put(a.shard(), new HardExample(1000 + a.shard(), 9f, workerId, step));
    held.run().tell(new RunCommand.ShardProgressed(held.runId(), a.shard(), a.attempt(), workerId, step,
        (step - a.resumeStep()) * held.batchSize(), progress.loss(), progress.counters()));
    return this;
  }

  private Behavior<Object> onCheckpoint(Checkpoint checkpoint) {
    if (held == null) return this;
    ShardAssignment a = held.assignment();
    held.run().tell(new RunCommand.ShardCheckpointed(held.runId(), a.shard(), a.attempt(), workerId,
        checkpoint.step(), a.checkpointDir() + "/step-" + checkpoint.step()));
    return this;
  }

  private Behavior<Object> onComplete(Complete complete) {
    if (held == null) return this;
    ShardAssignment a = held.assignment();
    long trained = held.totalSteps() - a.resumeStep();
    held.run().tell(new RunCommand.ShardCompleted(held.runId(), a.shard(), a.attempt(), workerId, held.totalSteps(),
        trained, trained * held.batchSize(), complete.counters(), 0.5f, Float.NaN, Float.NaN));
    return released();
  }

  private Behavior<Object> onFail(Fail fail) {
    if (held == null) return this;
    ShardAssignment a = held.assignment();
    long trained = step - a.resumeStep();
    held.run().tell(new RunCommand.ShardFailed(held.runId(), a.shard(), a.attempt(), workerId, fail.reason(), trained,
        trained * held.batchSize(), RunCounters.ZERO));
    return released();
  }

  private Behavior<Object> onStop(WorkerCommand.StopShard stop) {
    monitor.tell(stop);
    if (held == null || !held.runId().equals(stop.runId()) || held.assignment().shard() != stop.shard()) return this;
    ShardAssignment a = held.assignment();
    long trained = step - a.resumeStep();
    held.run().tell(new RunCommand.ShardStopped(held.runId(), a.shard(), a.attempt(), workerId, step, trained,
        trained * held.batchSize(), RunCounters.ZERO));
    return released();
  }

  private Behavior<Object> released() {
    timers.cancel(Step.INSTANCE);
    held = null;
    askForWork();
    return this;
  }

  private Behavior<Object> onCollect(WorkerCommand.CollectHardExamples collect) {
    monitor.tell(collect);
    if (!script.answersMerges()) return this;
    List<HardExample> entries = List.copyOf(buffer.values());
    io.quarry.protocol.HardExampleParts.cut(new HardExampleSnapshot(collect.runId(), collect.merge(), workerId, entries,
        entries.size(), 0, entries.isEmpty() ? Float.NaN : 9f, EMPTY_SKETCH), 1 << 20).forEach(collect.replyTo()::tell);
    return this;
  }

  private Behavior<Object> onSendPayloads(SendPayloads send) {
    if (lastMerged == null) return this;
    List<HardExamplePayload> payloads = lastMerged.entries().stream()
        .filter(entry -> entry.workerId().equals(workerId))
        .map(entry -> (HardExamplePayload) new HardExamplePayload.Features(entry.sampleId(), 1, 2, new float[] {1f, 2f}))
        .toList();
    lastMerged.replyTo().tell(new RunCommand.HardExamplePayloads(lastMerged.runId(), send.merge(), workerId, payloads, 0, true));
    return this;
  }

  private Behavior<Object> onOther(WorkerCommand command) {
    monitor.tell(command);
    if (command instanceof WorkerCommand.MergedHardExamples merged) lastMerged = merged;
    if (command instanceof WorkerCommand.ReleaseRun) buffer.clear();
    return this;
  }

  private void askForWork() {
    if (coordinator != null) {
      coordinator.tell(new CoordinatorCommand.RequestWork(incarnation, workerId, "cpu", self(), script.anyProgram()
          ? new io.quarry.protocol.WorkerAllowance(true, List.of(), List.of()) : io.quarry.protocol.WorkerAllowance.NOTHING));
    }
  }
}
