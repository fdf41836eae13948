package io.quarry.worker.telemetry;

import io.quarry.protocol.RunCommand;
import io.quarry.protocol.TelemetryEvent;
import io.quarry.protocol.config.RunConfig;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.japi.Pair;

/**
 * The telemetry stream of one shard attempt: a bounded queue the training thread offers to without blocking,
 * batched by size and time, sent to the run actor one batch at a time, each acknowledged once written
 * (back-pressure travels from the run's files to this queue). When the queue is full the newest step event
 * is dropped and counted.
 */
public final class StreamTelemetryEmitter implements TelemetryEmitter {
  /** After an unacknowledged batch, how often and how long to wait for the run's new actor (a coordinator failover). */
  private static final Duration HANDOVER_POLL = Duration.ofMillis(500);
  private static final int HANDOVER_POLLS = 120;

  private final AtomicReference<ActorRef<RunCommand>> target;
  private final BoundedSourceQueue<TelemetryEvent> queue;
  private final CompletionStage<Done> drained;
  private final LongAdder dropped = new LongAdder();
  private final Clock clock;
  private final int shard;
  private final int everySteps;

  private StreamTelemetryEmitter(
      AtomicReference<ActorRef<RunCommand>> target,
      BoundedSourceQueue<TelemetryEvent> queue,
      CompletionStage<Done> drained,
      Clock clock,
      int shard,
      int everySteps) {
    this.target = target;
    this.queue = queue;
    this.drained = drained;
    this.clock = clock;
    this.shard = shard;
    this.everySteps = everySteps;
  }

  /** Materializes the stream from a shard attempt to its run actor. */
  public static StreamTelemetryEmitter start(
      ActorSystem<?> system,
      RunConfig.Telemetry settings,
      ActorRef<RunCommand> run,
      String runId,
      String workerId,
      int shard,
      int attempt,
      Duration ackTimeout,
      Clock clock) {
    AtomicReference<ActorRef<RunCommand>> target = new AtomicReference<>(run);
    Pair<BoundedSourceQueue<TelemetryEvent>, CompletionStage<Done>> materialized =
        Source.<TelemetryEvent>queue(settings.bufferSize())
            .groupedWithin(settings.batchSize(), settings.batchInterval())
            .mapAsync(1, (List<TelemetryEvent> batch) -> deliver(system, target, target.get(),
                replyTo -> new RunCommand.TelemetryBatch(runId, workerId, shard, attempt, batch, replyTo),
                ackTimeout, HANDOVER_POLLS))
            .toMat(Sink.ignore(), Keep.both())
            .run(system);
    return new StreamTelemetryEmitter(
        target, materialized.first(), materialized.second(), clock, shard, settings.everySteps());
  }

  /**
   * Sends one batch and waits for its acknowledgement. If the run actor does not answer (its coordinator died),
   * the batch waits for the worker to be told of the run's new actor ({@link #retarget}) and goes there; it is
   * never sent twice to the same actor, so a slow but live run cannot receive it twice.
   */
  private static CompletionStage<RunCommand.TelemetryAck> deliver(
      ActorSystem<?> system,
      AtomicReference<ActorRef<RunCommand>> target,
      ActorRef<RunCommand> to,
      org.apache.pekko.japi.function.Function<ActorRef<RunCommand.TelemetryAck>, RunCommand> batch,
      Duration ackTimeout,
      int pollsLeft) {
    return AskPattern.<RunCommand, RunCommand.TelemetryAck>ask(to, batch, ackTimeout, system.scheduler())
        .exceptionallyCompose(failure -> awaitNewTarget(system, target, to, pollsLeft).thenCompose(next ->
            deliver(system, target, next, batch, ackTimeout, pollsLeft)));
  }

  private static CompletionStage<ActorRef<RunCommand>> awaitNewTarget(
      ActorSystem<?> system, AtomicReference<ActorRef<RunCommand>> target, ActorRef<RunCommand> old, int pollsLeft) {
    ActorRef<RunCommand> current = target.get();
    if (!current.equals(old)) return CompletableFuture.completedFuture(current);
    if (pollsLeft <= 0) {
      return CompletableFuture.failedFuture(new IllegalStateException("the run actor stopped acknowledging telemetry"));
    }
    return org.apache.pekko.pattern.Patterns.after(HANDOVER_POLL, system.classicSystem().scheduler(),
        system.executionContext(), () -> awaitNewTarget(system, target, old, pollsLeft - 1));
  }

  /** From now on, batches go to {@code run} (a recovered run actor under a new coordinator incarnation). */
  public void retarget(ActorRef<RunCommand> run) {
    target.set(run);
  }

  @Override
  public boolean step(long step, int epoch, float loss, float lr, float samplesPerSec) {
    if (step % everySteps != 0) return true;
    return offer(new TelemetryEvent.Step(nowUnixNs(), shard, step, epoch, loss, lr, samplesPerSec));
  }

  @Override
  public boolean epoch(long step, int epoch, float meanLoss) {
    return offer(new TelemetryEvent.Epoch(nowUnixNs(), shard, step, epoch, meanLoss));
  }

  @Override
  public boolean eval(long step, int epoch, float valLoss, float valAccuracy) {
    return offer(new TelemetryEvent.Eval(nowUnixNs(), shard, step, epoch, valLoss, valAccuracy));
  }

  @Override
  public long droppedEvents() {
    return dropped.sum();
  }

  /** Ends the stream; the stage completes once every queued batch has been acknowledged (or the stream failed). */
  public CompletionStage<Done> complete() {
    queue.complete();
    return drained;
  }

  /** Completes once the stream has ended, without ending it. */
  public CompletionStage<Done> completion() {
    return drained;
  }

  private boolean offer(TelemetryEvent event) {
    if (queue.offer(event) == QueueOfferResult.enqueued()) return true;
    dropped.increment();
    return false;
  }

  private long nowUnixNs() {
    Instant now = clock.instant();
    return now.getEpochSecond() * 1_000_000_000L + now.getNano();
  }
}
