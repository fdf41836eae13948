package io.quarry.worker.telemetry;

import io.quarry.config.RunConfig;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.TelemetryEvent;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The telemetry stream of one shard attempt: a bounded queue the training thread offers to without blocking,
 * batched by size and time, sent to the run actor one batch at a time, each acknowledged once written
 * (back-pressure travels from the run's files to this queue). When the queue is full the newest step event
 * is dropped and counted.
 */
public final class StreamTelemetryEmitter implements TelemetryEmitter {
  /**
   * An unacknowledged batch is sent again after this pause, up to this many times: long enough to outlast a
   * coordinator failover (failure detection, the split-brain resolver's stable-after, the singleton's hand-over).
   */
  private static final Duration RETRY_PAUSE = Duration.ofSeconds(1);
  private static final int DELIVERY_RETRIES = 30;

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
    AtomicLong nextSeq = new AtomicLong();
    Pair<BoundedSourceQueue<TelemetryEvent>, CompletionStage<Done>> materialized =
        Source.<TelemetryEvent>queue(settings.bufferSize())
            .groupedWithin(settings.batchSize(), settings.batchInterval())
            .mapAsync(1, (List<TelemetryEvent> batch) -> {
              long seq = nextSeq.getAndIncrement();
              return deliver(system, target,
                  replyTo -> new RunCommand.TelemetryBatch(runId, workerId, shard, attempt, seq, batch, replyTo),
                  ackTimeout, DELIVERY_RETRIES);
            })
            .toMat(Sink.ignore(), Keep.both())
            .run(system);
    return new StreamTelemetryEmitter(
        target, materialized.first(), materialized.second(), clock, shard, settings.everySteps());
  }

  /**
   * Sends one batch to the run's current actor and waits for its acknowledgement; without one, sends it again
   * after a pause, to whichever actor is current then (after a coordinator failover, the recovered run's, see
   * {@link #retarget}). The batch's sequence number lets a run that did write it acknowledge it without writing it
   * twice. Only when every retry fails does the stream fail (its later events are then counted as dropped).
   */
  private static CompletionStage<RunCommand.TelemetryAck> deliver(
      ActorSystem<?> system,
      AtomicReference<ActorRef<RunCommand>> target,
      org.apache.pekko.japi.function.Function<ActorRef<RunCommand.TelemetryAck>, RunCommand> batch,
      Duration ackTimeout,
      int retriesLeft) {
    CompletionStage<RunCommand.TelemetryAck> sent =
        AskPattern.<RunCommand, RunCommand.TelemetryAck>ask(target.get(), batch, ackTimeout, system.scheduler());
    if (retriesLeft == 0) return sent;
    return sent.exceptionallyCompose(failure -> org.apache.pekko.pattern.Patterns.after(RETRY_PAUSE,
        system.classicSystem().scheduler(), system.executionContext(),
        () -> deliver(system, target, batch, ackTimeout, retriesLeft - 1)));
  }

  /** From now on, batches go to {@code run} (a recovered run actor under a new coordinator incarnation). */
  @Override
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
  @Override
  public CompletionStage<Done> complete() {
    queue.complete();
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
