package io.quarry.protocol;

import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a worker actor understands. Everything a coordinator sends carries the coordinator's incarnation (a
 * fencing token): a worker ignores a message from an incarnation older than the newest it has seen.
 */
public sealed interface WorkerCommand
    permits WorkerCommand.FromCoordinator, WorkerCommand.Local {

  /** A message from a coordinator, fenced by its incarnation. */
  sealed interface FromCoordinator extends WorkerCommand, QuarryMessage
      permits CoordinatorAnnounced,
          AssignShard,
          StopShard,
          CollectHardExamples,
          MergedHardExamples,
          SnapshotCredit,
          ReleaseRun,
          AdoptShard,
          AveragedChunk,
          AveragingFailed,
          SizeRun,
          RingFormed {
    /** The incarnation of the coordinator that sent it. */
    long incarnation();
  }

  /** Messages private to the worker's implementation; they never leave its JVM. */
  non-sealed interface Local extends WorkerCommand, LocalMessage {}

  /** A coordinator (re)started and found this worker; the worker answers with {@link CoordinatorCommand.RequestWork} when idle. */
  record CoordinatorAnnounced(long incarnation, ActorRef<CoordinatorCommand> coordinator)
      implements FromCoordinator {}

  /** Train one attempt of one shard and report to {@code run}. */
  record AssignShard(long incarnation, RunSpec spec, ShardAssignment assignment, ActorRef<RunCommand> run)
      implements FromCoordinator {}

  /** Stop the shard's trainer within one step and report {@link RunCommand.ShardStopped}. */
  record StopShard(long incarnation, String runId, int shard, String reason) implements FromCoordinator {}

  /**
   * Answer with a snapshot of this worker's hard-example buffer for the run (one all-gather), cut into
   * {@link HardExampleSnapshotPart}s that fit the transport's frame.
   */
  record CollectHardExamples(
      long incarnation, String runId, int merge, ActorRef<HardExampleSnapshotPart> replyTo)
      implements FromCoordinator {}

  /**
   * The coordinator has the first {@code upTo} parts' room for this worker's snapshot of merge {@code merge}: the
   * worker may send parts up to index {@code upTo - 1} (see {@link PartWindow}). A snapshot of at most
   * {@link PartWindow#IN_FLIGHT} parts never needs one.
   */
  record SnapshotCredit(long incarnation, String runId, int merge, int upTo) implements FromCoordinator {}

  /**
   * One part of what a worker needs of the merged buffer of one all-gather: the cluster-wide threshold, and the
   * entries of the merged buffer that are this worker's own (for their payloads), cut to fit the transport's frame
   * ({@link HardExampleParts#cutMerged}). Every worker of the run gets at least one part (its own entries may be
   * none). Parts come in order; beyond the first {@link PartWindow#IN_FLIGHT} the run sends more as the worker grants
   * them ({@link RunCommand.MergedCredit}). A worker with entries of its own answers {@code replyTo} with their
   * payloads ({@link RunCommand.HardExamplePayloads}) once it holds every part.
   *
   * @param threshold the merged threshold (the same in every part)
   * @param workerId the recipient; every entry is its own
   * @param part this part's index, from 0
   * @param parts how many parts this worker's share takes
   * @param ownEntries how many entries this worker's share holds, all parts together
   * @param entries this part's entries, highest loss first
   * @param replyTo the run: payloads and credits go there
   */
  record MergedHardExamples(
      long incarnation,
      String runId,
      int merge,
      double threshold,
      String workerId,
      int part,
      int parts,
      int ownEntries,
      List<HardExample> entries,
      ActorRef<RunCommand> replyTo)
      implements FromCoordinator {
    public MergedHardExamples {
      entries = List.copyOf(entries);
    }
  }

  /**
   * A new coordinator incarnation has recovered the run and takes over the worker's running attempt: from now on
   * the worker reports it (and streams its telemetry) to {@code run}.
   */
  record AdoptShard(long incarnation, String runId, int shard, int attempt, ActorRef<RunCommand> run)
      implements FromCoordinator {}

  /** The run has ended: drop its hard-example buffer. */
  record ReleaseRun(long incarnation, String runId) implements FromCoordinator {}

  /**
   * One chunk of an averaging round's result, for the shard attempt that sent parameters for round {@code round}
   * ({@link RunCommand.SyncChunk}): the element-wise mean over the shards whose parameters arrived ({@code
   * contributors} of them). A shard that sent a round already completed (it resumed from a checkpoint, or was late)
   * gets the latest average the run has, whichever round it came from. Cut as {@link ParameterChunks} says.
   */
  record AveragedChunk(
      long incarnation,
      String runId,
      int shard,
      int attempt,
      long round,
      int contributors,
      int chunk,
      int chunks,
      int totalLength,
      float[] values)
      implements FromCoordinator {}

  /**
   * Size a submitted run's dataset with the trainer it names (its {@code io.quarry.config.TrainerSpec}), where the
   * data is: on a worker, not on the coordinator's host. The worker reads what it must (a csv's rows, an image
   * folder's listing) off its actor thread and answers {@link RunSized}.
   */
  record SizeRun(long incarnation, RunSpec spec, ActorRef<RunSized> replyTo) implements FromCoordinator {}

  /**
   * The answer to {@link SizeRun}: the number of samples the run's training data holds, or why it cannot be sized
   * (a missing file, a corrupt header: the config error a person reads).
   *
   * @param samples the training split's size; -1 when {@code error} says why there is none
   * @param error empty when sized
   * @param workerId the worker that sized it
   */
  record RunSized(String runId, long samples, String error, String workerId) implements QuarryMessage {}

  /**
   * The run has no average for this shard attempt's round {@code round}. When {@code fatal} the attempt's parameters
   * cannot be averaged at all (a vector of another length than the round's, a malformed chunk): the trainer fails
   * with {@code reason}. Otherwise the trainer continues from its own parameters (no shard's parameters arrived in
   * full before the round timed out).
   */
  record AveragingFailed(
      long incarnation, String runId, int shard, int attempt, long round, String reason, boolean fatal)
      implements FromCoordinator {}

  /**
   * The run's all-reduce ring for shard attempt {@code shard}/{@code attempt} of run {@code runId}: its members in ring
   * order (each sends to the next, the last to the first) under epoch {@code epoch}, larger than every earlier ring's
   * of the run. A member forgets every older ring: a round in progress on one aborts.
   */
  record RingFormed(long incarnation, String runId, int shard, int attempt, long epoch, List<RingPeer> members)
      implements FromCoordinator {
    public RingFormed {
      members = List.copyOf(members);
    }
  }
}
