package io.quarry.coordinator;

import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.ShardRecord;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;

/**
 * A run actor's writes to the run store: the run and its shards as records, written on every lifecycle
 * transition (the run's record carries the totals a recovered run continues from, as {@code RunRecords} writes
 * them). A failing store is logged, never fatal: the run directory still records everything, and the next
 * transition writes the whole state again. A store that keeps failing (a full disk) is logged once, until it takes a
 * write again.
 */
final class RunLedger {
  private final RunStore store;
  private final String runId;
  private final Logger log;
  /** The last write failed: later failures are not logged until one succeeds. */
  private boolean failing;

  RunLedger(RunStore store, String runId, Logger log) {
    this.store = store;
    this.runId = runId;
    this.log = log;
  }

  /** Records the run's state, times, totals and reason. */
  void run(RunRecord record) {
    try {
      store.updateRun(record);
      succeeded();
    } catch (RuntimeException e) {
      if (record.status().isFinal()) {
        // The run's end is the record that matters most: always said, even while the store keeps failing.
        failing = true;
        log.error("run {}: cannot record the run's end ({}) in the store: {}", runId, record.status().wireName(),
            e.getMessage());
      } else {
        failed("cannot record the run in the store: " + e.getMessage());
      }
    }
  }

  /** Records one shard's state. */
  void shard(ShardTable.Shard shard) {
    try {
      store.upsertShard(record(runId, shard));
      succeeded();
    } catch (RuntimeException e) {
      failed("cannot record shard " + shard.index + " in the store: " + e.getMessage());
    }
  }

  /** Records the state of the shards {@code indices}, in one write. */
  void shards(ShardTable table, List<Integer> indices) {
    List<ShardRecord> records = new ArrayList<>();
    for (int index : indices) records.add(record(runId, table.shard(index)));
    if (records.isEmpty()) return;
    try {
      store.upsertShards(records);
      succeeded();
    } catch (RuntimeException e) {
      failed("cannot record shards " + indices + " in the store: " + e.getMessage());
    }
  }

  private void failed(String what) {
    if (failing) return;
    failing = true;
    log.error("run {}: {} (further failures are not logged until the store takes a write again)", runId, what);
  }

  private void succeeded() {
    if (!failing) return;
    failing = false;
    log.info("run {}: the run store takes writes again", runId);
  }

  static ShardRecord record(String runId, ShardTable.Shard shard) {
    return new ShardRecord(runId, shard.index, shard.firstSample, shard.sampleCount, shard.state(), shard.attempt(),
        shard.failures(), shard.workerId(), shard.lastCheckpoint(), shard.checkpointStep());
  }

  static List<ShardRecord> records(String runId, ShardTable table) {
    List<ShardRecord> records = new ArrayList<>();
    for (ShardTable.Shard shard : table.shards()) records.add(record(runId, shard));
    return records;
  }
}
