package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import java.time.Clock;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Everything a run actor starts from.
 *
 * @param recovered the run as the store recorded it, when a new coordinator incarnation recovers it; else null
 */
record RunSetup(
    RunSpec spec,
    RunConfig config,
    ShardTable shards,
    RunDirectory directory,
    long incarnation,
    ActorRef<CoordinatorCommand> coordinator,
    Clock clock,
    RunStore store,
    RunRecord recovered,
    CoordinatorSettings settings,
    Resumed resumed) {
  /** A run that is not resumed by a person ({@code resumed} null). */
  RunSetup(RunSpec spec, RunConfig config, ShardTable shards, RunDirectory directory, long incarnation,
      ActorRef<CoordinatorCommand> coordinator, Clock clock, RunStore store, RunRecord recovered,
      CoordinatorSettings settings) {
    this(spec, config, shards, directory, incarnation, coordinator, clock, store, recovered, settings, null);
  }

  /**
   * A STOPPED or FAILED run a person resumed ({@code quarry resume}): its {@code recovered} record is the one it ended
   * with, whose totals carry on.
   *
   * @param previousStatus how it had ended
   * @param previousReason why it had stopped or failed
   * @param overrides the keys changed on resume
   * @param pending the shards that continue from their checkpoints
   */
  record Resumed(RunState previousStatus, String previousReason, List<String> overrides, List<Integer> pending) {}
}
