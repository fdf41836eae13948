package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.ShardPlan;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.ShardRecord;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Picks up a run an earlier coordinator incarnation left unfinished: its config and shards from the run store, its
 * run directory reopened to append to. A run that cannot be picked up is recorded as FAILED with the reason.
 */
final class RunRecovery {
  /** A run as the store and its directory left it, ready for its run actor. */
  record Recovered(RunSpec spec, RunConfig config, ShardTable shards, RunDirectory directory, RunRecord record) {}

  private RunRecovery() {}

  /**
   * The run {@code record} names, with its shards as the store last recorded them.
   *
   * @throws IOException when its run directory cannot be reopened
   * @throws RuntimeException when its config or shards cannot be read
   */
  static Recovered recover(RunRecord record, RunStore store, Path runsDir) throws IOException {
    String runId = record.runId();
    RunConfig config = RunConfig.parse(record.configHocon());
    List<ShardRecord> stored = store.shards(runId);
    if (stored.isEmpty()) throw new IllegalStateException("the store holds no shards for it");
    List<ShardPlan.Slice> slices = new ArrayList<>();
    for (ShardRecord shard : stored) slices.add(new ShardPlan.Slice(shard.shard(), shard.firstSample(), shard.sampleCount()));
    ShardTable table = new ShardTable(slices, config.batchSize, config.epochs, config.maxAttempts);
    for (ShardRecord shard : stored) {
      table.restore(shard.shard(), shard.state(), shard.attempt(), shard.failures(), shard.workerId(),
          shard.lastCheckpoint(), shard.checkpointStep(), "");
    }
    RunDirectory directory = RunDirectory.reopen(runsDir, runId);
    return new Recovered(new RunSpec(runId, record.configHocon()), config, table, directory, record);
  }

  /** Records the run as FAILED at {@code nowMs} for {@code reason}, keeping what the store had of it. */
  static void fail(RunRecord record, String reason, RunStore store, long nowMs) {
    store.updateRun(new RunRecord(record.runId(), record.name(), record.configHocon(), RunState.FAILED,
        record.submittedUnixMs(), record.startedUnixMs(), nowMs, record.finalMetricsJson(), reason));
  }
}
