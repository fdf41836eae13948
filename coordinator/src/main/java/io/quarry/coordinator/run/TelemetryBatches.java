package io.quarry.coordinator.run;

import java.util.HashMap;
import java.util.Map;

/**
 * Which telemetry batches a run has written: per shard attempt's stream (worker, shard, attempt), the last batch
 * number. A batch sent again because its acknowledgement was late or lost is acknowledged, never written twice.
 */
public final class TelemetryBatches {
  private record Stream(String workerId, int shard, int attempt) {}

  private final Map<Stream, Long> lastSeq = new HashMap<>();

  /** True, and remembered, when batch {@code seq} of the attempt's stream is newer than every batch written. */
  public boolean isNew(String workerId, int shard, int attempt, long seq) {
    Stream stream = new Stream(workerId, shard, attempt);
    Long last = lastSeq.get(stream);
    if (last != null && seq <= last) return false;
    lastSeq.put(stream, seq);
    return true;
  }
}
