package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.RunResume;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.ShardPlan;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.ShardRecord;
import io.quarry.protocol.CoordinatorCommand.ResumeOutcome;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.ShardState;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Prepares a STOPPED or FAILED run to continue as the same run (a person's {@code quarry resume}), from the run store
 * and its run directory: every shard that had not completed goes back to PENDING with a new attempt number (its own
 * checkpoint directory; the worker resumes from the newest complete checkpoint of the shard, in any attempt's) and a
 * fresh budget of {@code max-attempts}; completed shards stay completed, unless {@code epochs} went up. The run keeps
 * its id, directory, events and totals. Everything is checked before anything is written: a refused resumption
 * changes nothing. Blocking (the store, files): run it off the coordinator's thread.
 */
final class RunResumption {
  /**
   * A run ready for its run actor.
   *
   * @param record the run as the store had it before (its totals and times carry on)
   * @param resumed what the run actor says in its {@code run_resumed} event
   */
  record Prepared(RunSpec spec, RunConfig config, ShardTable shards, RunDirectory directory, RunRecord record,
      RunSetup.Resumed resumed) {}

  /** A resumption refused: what kind, and the one-line reason a person reads. */
  static final class Refused extends RuntimeException {
    final ResumeOutcome outcome;

    Refused(ResumeOutcome outcome, String message) {
      super(message, null, false, false);
      this.outcome = outcome;
    }
  }

  private RunResumption() {}

  /**
   * Checks that run {@code runId} may resume with {@code overrides}, then records it as PENDING again with its shards
   * reset and reopens its directory.
   *
   * @throws Refused when there is no such run, it is not STOPPED or FAILED, an override is not allowed, or its
   *     directory is gone; nothing was changed
   * @throws IOException when its directory cannot be reopened or its run.conf rewritten
   */
  static Prepared prepare(String runId, List<String> overrides, RunStore store, Path runsDir) throws IOException {
    RunRecord record = store.run(runId).orElseThrow(() -> new Refused(ResumeOutcome.UNKNOWN,
        "no run with id '" + runId + "'"));
    if (record.status() == RunState.COMPLETED) {
      throw new Refused(ResumeOutcome.NOT_RESUMABLE, "run " + runId + " completed; only a stopped or failed run can "
          + "be resumed (to train on from its parameters, start a new run with --init-from " + runId + ")");
    }
    if (!record.status().isFinal()) {
      throw new Refused(ResumeOutcome.NOT_RESUMABLE, "run " + runId + " is " + record.status().wireName()
          + "; only a stopped or failed run can be resumed");
    }
    RunConfig original;
    RunConfig config;
    try {
      original = RunConfig.parse(record.configHocon());
      config = RunResume.resumed(original, overrides);
    } catch (RunConfigException e) {
      throw new Refused(ResumeOutcome.INVALID, e.getMessage());
    }
    Path dir = runsDir.resolve(runId);
    if (!Files.isRegularFile(dir.resolve("events.jsonl"))) {
      throw new Refused(ResumeOutcome.NOT_RESUMABLE, "run " + runId + " cannot be resumed: its run directory " + dir
          + " is missing or has no events.jsonl (its checkpoints are there)");
    }
    List<ShardRecord> stored = store.shards(runId);
    if (stored.isEmpty()) {
      throw new Refused(ResumeOutcome.NOT_RESUMABLE, "run " + runId + " cannot be resumed: the run store holds no "
          + "shards for it (it ended before it was planned)");
    }
    boolean moreEpochs = config.epochs > original.epochs;
    ShardTable table = table(stored, config, moreEpochs, RunRecords.totals(record.finalMetricsJson()).shardSteps());

    // Checked; now the writes: the shards, then the run (the store's record of the run is what commits it).
    RunDirectory directory = RunDirectory.reopen(runsDir, runId);
    try {
      if (!config.toHocon().equals(original.toHocon())) rewrite(dir.resolve("run.conf"), config.toHocon());
      store.upsertShards(RunLedger.records(runId, table));
      store.updateRun(new RunRecord(runId, config.name, config.toHocon(), RunState.PENDING, record.submittedUnixMs(),
          record.startedUnixMs(), null, record.finalMetricsJson(), null));
    } catch (IOException | RuntimeException e) {
      directory.close();
      throw e;
    }
    List<Integer> pending = new ArrayList<>();
    for (ShardTable.Shard shard : table.shards()) if (shard.state() == ShardState.PENDING) pending.add(shard.index);
    RunSetup.Resumed resumed = new RunSetup.Resumed(record.status(),
        record.failureReason() == null ? "" : record.failureReason(), overrides, pending);
    return new Prepared(new RunSpec(runId, config.toHocon()), config, table, directory, record, resumed);
  }

  /** The run's shards as stored, those not completed (all, when {@code moreEpochs}) PENDING with a new attempt. */
  static ShardTable table(List<ShardRecord> stored, RunConfig config, boolean moreEpochs, Map<Integer, Long> trained) {
    List<ShardPlan.Slice> slices = new ArrayList<>();
    for (ShardRecord shard : stored) slices.add(new ShardPlan.Slice(shard.shard(), shard.firstSample(), shard.sampleCount()));
    ShardTable table = new ShardTable(slices, config.batchSize, config.epochs, config.maxAttempts);
    for (ShardRecord shard : stored) {
      boolean done = shard.state() == ShardState.DONE && !moreEpochs;
      if (done) {
        table.restore(shard.shard(), ShardState.DONE, shard.attempt(), shard.failures(), shard.workerId(),
            shard.lastCheckpoint(), shard.checkpointStep(), "");
      } else {
        // A new attempt number: a directory of its own, never written by an attempt of the run before.
        table.restore(shard.shard(), ShardState.PENDING, shard.attempt() + 1, 0, null, shard.lastCheckpoint(),
            shard.checkpointStep(), "");
        // What its earlier attempts trained past the checkpoint it resumes from is trained again: redone steps.
        table.trainedBefore(shard.shard(), trained.getOrDefault(shard.shard(), 0L));
      }
    }
    return table;
  }

  private static void rewrite(Path file, String text) throws IOException {
    Path temporary = file.resolveSibling(file.getFileName() + ".resumed.tmp");
    Files.writeString(temporary, text, StandardCharsets.UTF_8);
    Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
