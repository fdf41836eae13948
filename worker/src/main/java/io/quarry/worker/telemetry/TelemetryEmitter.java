package io.quarry.worker.telemetry;

/**
 * The training thread's side of the telemetry stream. Every method returns at once: it never blocks and
 * never throws for back-pressure; a step event that does not fit is dropped and counted.
 */
public interface TelemetryEmitter {
  /** One training step's scalars. Returns false when the event was dropped. */
  boolean step(long step, int epoch, float loss, float lr, float samplesPerSec);

  /** The end of an epoch. */
  boolean epoch(long step, int epoch, float meanLoss);

  /** An evaluation after an epoch. */
  boolean eval(long step, int epoch, float valLoss, float valAccuracy);

  /** Events dropped so far because the stream was full. */
  long droppedEvents();

  /** An emitter for fast mode: drops nothing because it sends nothing. */
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
  };
}
