package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.RunUpdate;
import io.quarry.protocol.WorkerCommand;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;

/** Messages between the coordinator and its run actors; both live in one JVM, so none crosses the wire. */
final class CoordinatorProtocol {
  private CoordinatorProtocol() {}

  // coordinator -> run

  /**
   * An idle worker is offered to the run; it answers {@link OfferAnswered} with the same {@code offerId}, which
   * tells the coordinator which offer an answer belongs to when one worker is offered to one run twice in a row.
   */
  record OfferWorker(String workerId, ActorRef<WorkerCommand> worker, long offerId) implements RunCommand.Local {}

  /** The worker is gone: its shards of this run go back to PENDING. */
  record WorkerLost(String workerId, String reason) implements RunCommand.Local {}

  /** A worker is training this shard attempt for a previous coordinator incarnation: adopt it or stop it. */
  record AdoptAttempt(String workerId, ActorRef<WorkerCommand> worker, int shard, int attempt)
      implements RunCommand.Local {}

  /** Stop the run. */
  record Stop(String reason, ActorRef<CoordinatorCommand.StopReply> replyTo) implements RunCommand.Local {}

  /** Add a watcher. */
  record Watch(ActorRef<RunUpdate> subscriber) implements RunCommand.Local {}

  /**
   * The coordinator has recorded the run's end: the run actor may stop. Until this arrives, an ended run answers
   * watchers and stop requests itself, so none that the coordinator forwarded before it learned of the end is lost.
   */
  enum Retire implements RunCommand.Local {
    INSTANCE
  }

  // run -> coordinator

  /** The run has PENDING shards and would take idle workers. */
  record WantsWorkers(String runId) implements CoordinatorCommand.Local {}

  /** The run took the offered worker (it is now busy with a shard) or did not (it is idle again). */
  record OfferAnswered(String runId, String workerId, boolean accepted, long offerId)
      implements CoordinatorCommand.Local {}

  /**
   * The run ends holding workers it accepted but never gave a shard (a process group that was gathering its ranks):
   * they are idle again, waiting for work they already asked for.
   */
  record WorkersUnused(String runId, java.util.List<String> workerIds) implements CoordinatorCommand.Local {}

  /** The run's status changed (a lifecycle transition or progress); the coordinator answers clients from it. */
  record StatusChanged(RunStatus status) implements CoordinatorCommand.Local {}

  /** The run reached a final state; its actor stops once it is retired. */
  record RunEnded(String runId, RunSummary summary, RunStatus status) implements CoordinatorCommand.Local {}

  // admission -> coordinator

  /** A submitted run is sized, its directory and records exist: the coordinator starts it and accepts it. */
  record RunAdmitted(RunSpec spec, RunConfig config, ShardTable shards, RunDirectory directory,
      ActorRef<CoordinatorCommand.SubmitReply> replyTo) implements CoordinatorCommand.Local {}

  /** A submitted run cannot be admitted, for {@code error} ({@code why}: what kind): the coordinator rejects it. */
  record RunRefused(String runId, String error, CoordinatorCommand.SubmitReply.Why why,
      ActorRef<CoordinatorCommand.SubmitReply> replyTo) implements CoordinatorCommand.Local {}

  // merge aggregator -> run

  /**
   * One all-gather has finished: the snapshots that arrived whole in time, the workers left out with why
   * ({@code timeout: ...}, {@code incomplete: ...}, {@code lost: ...}), and the parts each snapshot took.
   */
  record MergeCollected(int merge, List<HardExampleSnapshot> snapshots, Map<String, String> missingWhy,
      Map<String, Integer> parts) implements RunCommand.Local {}
}
