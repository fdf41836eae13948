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
 * transition writes the whole state again.
 */
final class RunLedger {
  private final RunStore store;
  private final String runId;
  private final Logger log;

  RunLedger(RunStore store, String runId, Logger log) {
    this.store = store;
    this.runId = runId;
    this.log = log;
  }

  /** Records the run's state, times, totals and reason. */
  void run(RunRecord record) {
    try {
      store.updateRun(record);
    } catch (RuntimeException e) {
      log.error("run {}: cannot record the run in the store: {}", runId, e.getMessage());
    }
  }

  /** Records one shard's state. */
  void shard(ShardTable.Shard shard) {
    try {
      store.upsertShard(record(runId, shard));
    } catch (RuntimeException e) {
      log.error("run {}: cannot record shard {} in the store: {}", runId, shard.index, e.getMessage());
    }
  }

  /** Records the state of the shards {@code indices}, in one write. */
  void shards(ShardTable table, List<Integer> indices) {
    List<ShardRecord> records = new ArrayList<>();
    for (int index : indices) records.add(record(runId, table.shard(index)));
    try {
      if (!records.isEmpty()) store.upsertShards(records);
    } catch (RuntimeException e) {
      log.error("run {}: cannot record shards {} in the store: {}", runId, indices, e.getMessage());
    }
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
