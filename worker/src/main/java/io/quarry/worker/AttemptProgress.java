package io.quarry.worker;

import io.quarry.protocol.RunCommand;
import io.quarry.worker.telemetry.TelemetryEmitter;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * How far one shard attempt has come, as its trainer reports it through its context: the shard step reached (steps
 * done, counted from the shard's start, as checkpoints count them), the steps and samples it offered to the tracker,
 * and the loss of the last step it reported. Trainers number a step's offers and events by the step's index (from
 * 0), so such a report means one more step done; a checkpoint names the steps done itself.
 *
 * <p>The training thread writes, the worker's actor reads; writes allocate nothing and never block. Any thread may
 * write (a trainer may offer from a pool): the step only ever rises.
 */
final class AttemptProgress {
  private final AtomicLong step;
  private final AtomicLong steps = new AtomicLong();
  private final AtomicLong samples = new AtomicLong();
  private volatile float loss = Float.NaN;

  /** @param startStep the step the attempt starts at: 0, or that of the checkpoint it resumes from */
  AttemptProgress(long startStep) {
    this.step = new AtomicLong(startStep);
  }

  /** One step's per-sample losses, {@code count} of them, were offered at step index {@code step}. */
  void offered(long step, int count) {
    reached(step + 1);
    steps.incrementAndGet();
    samples.addAndGet(count);
  }

  /** The trainer reported step index {@code step}'s mean loss. */
  void stepReported(long step, float loss) {
    reached(step + 1);
    this.loss = loss;
  }

  /** The attempt has done {@code stepsDone} steps of the shard (a checkpoint's step, an epoch's end). */
  void reached(long stepsDone) {
    long current;
    while (stepsDone > (current = step.get())) {
      if (step.compareAndSet(current, stepsDone)) return;
    }
  }

  /** The shard step reached: steps done, counted from the shard's start. */
  long step() {
    return step.get();
  }

  /** Steps whose losses this attempt offered: what a failed attempt reports as trained. */
  long stepsOffered() {
    return steps.get();
  }

  /** Samples this attempt offered. */
  long samples() {
    return samples.get();
  }

  /** The last step loss the trainer reported; {@code NaN} before the first. */
  float loss() {
    return loss;
  }

  /**
   * {@code emitter} as the trainer sees it: every event goes on to it, and its step and loss count here too, so that
   * progress is known in fast mode (where {@code emitter} sends nothing) as well.
   */
  TelemetryEmitter observing(TelemetryEmitter emitter) {
    return new Observing(emitter);
  }

  /** Forwards to the emitter after noting the step and loss; the lifecycle is the emitter's own. */
  private final class Observing implements TelemetryEmitter {
    private final TelemetryEmitter emitter;

    Observing(TelemetryEmitter emitter) {
      this.emitter = emitter;
    }

    @Override
    public boolean step(long step, int epoch, float loss, float lr, float samplesPerSec) {
      stepReported(step, loss);
      return emitter.step(step, epoch, loss, lr, samplesPerSec);
    }

    @Override
    public boolean epoch(long step, int epoch, float meanLoss) {
      reached(step + 1);
      return emitter.epoch(step, epoch, meanLoss);
    }

    @Override
    public boolean eval(long step, int epoch, float valLoss, float valAccuracy) {
      reached(step + 1);
      return emitter.eval(step, epoch, valLoss, valAccuracy);
    }

    @Override
    public long droppedEvents() {
      return emitter.droppedEvents();
    }

    @Override
    public void retarget(ActorRef<RunCommand> run) {
      emitter.retarget(run);
    }

    @Override
    public CompletionStage<Done> complete() {
      return emitter.complete();
    }
  }
}
