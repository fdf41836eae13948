package io.quarry.worker.telemetry;

import io.quarry.protocol.RunCommand;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The telemetry of one shard attempt. The training thread emits ({@link #step}, {@link #epoch}, {@link #eval}): every
 * emit returns at once, never blocks and never throws for back-pressure; an event that does not fit is dropped and
 * counted ({@link #droppedEvents}). The worker owns the lifecycle ({@link #retarget}, {@link #complete}); trainers
 * never call those.
 */
public interface TelemetryEmitter {
  /** One training step's scalars; {@code step} is the shard step trained (from 0). Returns false when dropped. */
  boolean step(long step, int epoch, float loss, float lr, float samplesPerSec);

  /** The end of an epoch, at its last step. */
  boolean epoch(long step, int epoch, float meanLoss);

  /** An evaluation after an epoch, at the epoch's last step. */
  boolean eval(long step, int epoch, float valLoss, float valAccuracy);

  /** Events dropped so far because the stream was full (or had failed). */
  long droppedEvents();

  /**
   * From now on, events go to {@code run}: the run actor of a newer coordinator incarnation that has adopted the
   * attempt after a failover. Events already sent but not acknowledged are sent again to it.
   */
  void retarget(ActorRef<RunCommand> run);

  /**
   * Ends the telemetry of the attempt, once its trainer has returned: the stage completes when every event emitted
   * before has been delivered, or delivery has been given up (the stage then fails). Called once.
   */
  CompletionStage<Done> complete();

  /** The emitter of fast mode ({@code telemetry.enabled = false}): sends nothing, so drops nothing, and ends at once. */
  TelemetryEmitter DISABLED = new TelemetryEmitter() {
    @Override
    public boolean step(long step, int epoch, float loss, float lr, float samplesPerSec) {
      return true;
    }

    @Override
    public boolean epoch(long step, int epoch, float meanLoss) {
      return true;
    }

    @Override
    public boolean eval(long step, int epoch, float valLoss, float valAccuracy) {
      return true;
    }

    @Override
    public long droppedEvents() {
      return 0;
    }

    @Override
    public void retarget(ActorRef<RunCommand> run) {}

    @Override
    public CompletionStage<Done> complete() {
      return CompletableFuture.completedFuture(Done.getInstance());
    }

    @Override
    public String toString() {
      return "TelemetryEmitter.DISABLED";
    }
  };
}
