package io.quarry.coordinator.store;

import java.util.List;
import java.util.Optional;

/**
 * The durable record of every run and shard, written on every lifecycle transition so that a coordinator that
 * restarts (on this machine or another) finds what its predecessor knew. Calls are synchronous and may block on
 * disk or network: callers run them on a blocking dispatcher, never on the default one.
 *
 * <p>Every method throws {@link RunStoreException} when the store cannot do what was asked; the message names the
 * store and the run or shard.
 */
public interface RunStore extends AutoCloseable {
  /** Records a new run. Throws {@link RunAlreadyExistsException}, changing nothing, if the id is taken. */
  void createRun(RunRecord run);

  /** Replaces every field of an existing run. Throws {@link RunStoreException} if the run was never created. */
  void updateRun(RunRecord run);

  /** Inserts the shard or replaces its fields. Its run must exist. */
  void upsertShard(ShardRecord shard);

  /** {@link #upsertShard} for each shard, in one transaction: all are written or none. */
  void upsertShards(List<ShardRecord> shards);

  Optional<RunRecord> run(String runId);

  /** Every run, by submission time, then id. */
  List<RunRecord> runs();

  /** The runs not yet COMPLETED, FAILED or STOPPED, by submission time, then id: what a new coordinator resumes. */
  List<RunRecord> unfinishedRuns();

  /** The shards of a run, by shard index; empty for an unknown run. */
  List<ShardRecord> shards(String runId);

  /**
   * Atomically increments and returns the persisted incarnation counter. A coordinator takes one when it starts, as
   * its fencing token: it is larger than that of every coordinator before it on this store, whatever the clocks say.
   */
  long nextIncarnation();

  /** Releases the store's connections. Does not throw. */
  @Override
  void close();
}
