package io.quarry.protocol;

/**
 * A per-step telemetry event from a worker's training thread. These travel in {@link RunCommand.TelemetryBatch}es
 * over a bounded stream, may be dropped under back-pressure (counted), and are not sent at all in fast mode.
 */
public sealed interface TelemetryEvent extends QuarryMessage {
  /** When the event happened, in nanoseconds since the Unix epoch. */
  long tsUnixNs();

  /** The shard it belongs to. */
  int shard();

  /** One training step. */
  record Step(
      long tsUnixNs, int shard, long step, int epoch, float loss, float lr, float samplesPerSec)
      implements TelemetryEvent {}

  /** The end of an epoch of a shard. */
  record Epoch(long tsUnixNs, int shard, long step, int epoch, float meanLoss) implements TelemetryEvent {}

  /** An evaluation after an epoch. */
  record Eval(long tsUnixNs, int shard, long step, int epoch, float valLoss, float valAccuracy)
      implements TelemetryEvent {}
}
