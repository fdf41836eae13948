package io.quarry.coordinator.store;

import io.quarry.protocol.ShardState;
import java.util.Objects;

/**
 * One shard of a run as stored: enough to resume it from its last checkpoint under a new coordinator.
 *
 * @param runId the run the shard belongs to
 * @param shard the shard's index in the run, from 0
 * @param firstSample the stable index of its first sample
 * @param sampleCount how many samples it holds
 * @param state where the shard is in its lifecycle
 * @param attempt the current attempt, from 1
 * @param failures how many attempts failed
 * @param workerId the worker of the current attempt; null when none
 * @param lastCheckpoint where its last checkpoint is; null before the first
 * @param checkpointStep the shard step of the last checkpoint; 0 before the first
 */
public record ShardRecord(
    String runId,
    int shard,
    long firstSample,
    long sampleCount,
    ShardState state,
    int attempt,
    int failures,
    String workerId,
    String lastCheckpoint,
    long checkpointStep) {
  public ShardRecord {
    Objects.requireNonNull(runId, "runId");
    Objects.requireNonNull(state, "state");
    if (shard < 0) throw new IllegalArgumentException("shard " + shard + " of run " + runId + " is negative");
    if (attempt < 1) throw new IllegalArgumentException("attempt " + attempt + " of shard " + shard + " is below 1");
    if (failures < 0 || firstSample < 0 || sampleCount < 0 || checkpointStep < 0) {
      throw new IllegalArgumentException("shard " + shard + " of run " + runId
          + " has a negative count: failures, firstSample, sampleCount and checkpointStep are >= 0");
    }
  }
}
