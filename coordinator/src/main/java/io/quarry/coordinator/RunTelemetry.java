package io.quarry.coordinator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.TelemetryBatches;
import io.quarry.protocol.RunCommand.TelemetryBatch;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.TelemetryEvent;
import org.slf4j.Logger;

/**
 * The run's telemetry, written to its directory and never read by its lifecycle: each batch of a shard attempt's
 * stream written once (one sent again after a late acknowledgement is only acknowledged), and lines the directory
 * cannot take dropped and counted ({@code telemetry_unwritten}), logged the first time; the run goes on.
 */
final class RunTelemetry {
  private final String runId;
  private final RunDirectory directory;
  private final RunRecords records;
  private final RunProgress progress;
  private final Logger log;
  private final TelemetryBatches batches = new TelemetryBatches();
  private boolean unwrittenLogged;

  RunTelemetry(String runId, RunDirectory directory, RunRecords records, RunProgress progress, Logger log) {
    this.runId = runId;
    this.directory = directory;
    this.records = records;
    this.progress = progress;
    this.log = log;
  }

  /** Writes a batch unless it was written before. Returns true when lines were dropped (the counters changed). */
  boolean batch(TelemetryBatch batch) {
    if (!batches.isNew(batch.workerId(), batch.shard(), batch.attempt(), batch.seq())) return false;
    for (TelemetryEvent event : batch.events()) {
      directory.appendTelemetry(records.telemetry(batch.workerId(), event),
          RunRecords.scalarsRow(batch.workerId(), event));
    }
    return count(directory.flushTelemetry());
  }

  /** Writes one telemetry line the run itself makes. Returns true when it was dropped. */
  boolean event(ObjectNode event) {
    return count(directory.writeTelemetryEvent(event));
  }

  /** Counts (and the first time logs) telemetry the directory could not take. Returns true when there was any. */
  boolean count(RunDirectory.Unwritten unwritten) {
    if (unwritten.lines() == 0) return false;
    if (!unwrittenLogged) {
      unwrittenLogged = true;
      log.warn("run {}: {}; telemetry that cannot be written is dropped and counted ({}), the run goes on", runId,
          unwritten.reason(), RunCounter.TELEMETRY_UNWRITTEN.label());
    }
    progress.count(RunCounter.TELEMETRY_UNWRITTEN, unwritten.lines());
    return true;
  }
}
