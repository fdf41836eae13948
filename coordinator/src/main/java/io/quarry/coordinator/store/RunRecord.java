package io.quarry.coordinator.store;

import io.quarry.protocol.RunState;
import java.util.Objects;

/**
 * One run as stored.
 *
 * @param runId the run's id, unique in the store
 * @param name a name for people
 * @param configHocon the resolved config of the run, as HOCON
 * @param status where the run is in its lifecycle
 * @param submittedUnixMs when it was submitted
 * @param startedUnixMs when its first shard was assigned; null before
 * @param finishedUnixMs when it reached a final status; null before
 * @param finalMetricsJson the final metrics as a JSON object; null until known
 * @param failureReason why it failed; null unless it failed
 */
public record RunRecord(
    String runId,
    String name,
    String configHocon,
    RunState status,
    long submittedUnixMs,
    Long startedUnixMs,
    Long finishedUnixMs,
    String finalMetricsJson,
    String failureReason) {
  public RunRecord {
    Objects.requireNonNull(runId, "runId");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(configHocon, "configHocon");
    Objects.requireNonNull(status, "status");
    if (runId.isBlank()) throw new IllegalArgumentException("runId is blank");
  }
}
