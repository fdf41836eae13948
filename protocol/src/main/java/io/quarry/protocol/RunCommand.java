package io.quarry.protocol;

import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a run actor (the coordinator's child for one run) understands from workers. Reports name the shard
 * attempt they belong to; the run ignores reports of an attempt it has already given up on.
 */
public sealed interface RunCommand
    permits RunCommand.ShardReport, RunCommand.TelemetryBatch, RunCommand.SyncChunk, RunCommand.HardExamplePayloads,
        RunCommand.MergedCredit, RunCommand.RankEndpoint, RunCommand.RingJoin, RunCommand.RingAborted,
        RunCommand.Local {

  /** Messages private to the coordinator's implementation; they never leave its JVM. */
  non-sealed interface Local extends RunCommand, LocalMessage {}

  /** A lifecycle report about one shard attempt. Never dropped, sent in fast mode too. */
  sealed interface ShardReport extends RunCommand, QuarryMessage
      permits ShardStarted, ShardProgressed, ShardCheckpointed, ShardCompleted, ShardFailed, ShardStopped, ShardRefused,
          CheckpointUnusable {
    String runId();

    int shard();

    int attempt();

    String workerId();
  }

  /**
   * The trainer started, at {@code startStep}: 0, or the step of the checkpoint it resumes from, {@code resumeFrom}
   * ({@code null} when none). That is the newest usable checkpoint of the shard the worker found, which may be newer
   * than the one the run recorded (an abandoned attempt trained on) or older (the recorded one was unusable).
   */
  record ShardStarted(String runId, int shard, int attempt, String workerId, long startStep, String resumeFrom)
      implements ShardReport {
    /** Started at {@code startStep}, without saying from which checkpoint. */
    public ShardStarted(String runId, int shard, int attempt, String workerId, long startStep) {
      this(runId, shard, attempt, workerId, startStep, null);
    }
  }

  /**
   * A checkpoint of the shard could not be used to resume it: gone (pruned by an attempt the run had given up on) or
   * damaged ({@code reason}, naming the file). The attempt went on from an older one (or the shard's start), which
   * costs the shard no attempt.
   */
  record CheckpointUnusable(String runId, int shard, int attempt, String workerId, String path, String reason)
      implements ShardReport {}

  /**
   * How far a running attempt has come, sent every few seconds ({@code quarry.worker.progress-interval}) whether
   * telemetry is on or off: the run's progress, ETA and straggler detection come from these, never from telemetry.
   *
   * @param step the shard step the attempt has reached (steps done, counted from the shard's start)
   * @param samples samples this attempt has trained
   * @param loss the last step's mean loss; {@code NaN} before the first or when the trainer reports none
   * @param counters the worker's running totals of its counters for the run ({@link RunCounter.Side#WORKER})
   */
  record ShardProgressed(
      String runId, int shard, int attempt, String workerId, long step, long samples, float loss, RunCounters counters)
      implements ShardReport {}

  /** A checkpoint was written; the shard resumes from {@code path} if this attempt is lost. */
  record ShardCheckpointed(String runId, int shard, int attempt, String workerId, long step, String path)
      implements ShardReport {}

  /**
   * The shard's trainer reached the end of the shard.
   *
   * @param endStep the shard step it ended at
   * @param stepsTrained steps trained in this attempt (redone steps included)
   * @param samplesTrained samples trained in this attempt
   * @param counters the worker's running totals of its counters for the run ({@link RunCounter.Side#WORKER})
   * @param finalLoss the last step's mean loss
   * @param valLoss the shard model's last validation loss; {@code NaN} when its trainer does not evaluate
   * @param valAccuracy the shard model's last validation accuracy; {@code NaN} when its trainer does not evaluate
   */
  record ShardCompleted(
      String runId,
      int shard,
      int attempt,
      String workerId,
      long endStep,
      long stepsTrained,
      long samplesTrained,
      RunCounters counters,
      float finalLoss,
      float valLoss,
      float valAccuracy)
      implements ShardReport {}

  /** The shard's trainer failed; the run retries it from its last checkpoint or fails. */
  record ShardFailed(
      String runId,
      int shard,
      int attempt,
      String workerId,
      String reason,
      long stepsTrained,
      long samplesTrained,
      RunCounters counters)
      implements ShardReport {}

  /**
   * The worker will not train this run at all: its operator does not allow the program it starts or the data it
   * reads ({@code reason} says which, and how to allow it). Retrying elsewhere would only repeat the refusal, so the
   * run fails at once with the reason.
   */
  record ShardRefused(String runId, int shard, int attempt, String workerId, String reason) implements ShardReport {}

  /** The shard's trainer stopped on request. */
  record ShardStopped(
      String runId,
      int shard,
      int attempt,
      String workerId,
      long endStep,
      long stepsTrained,
      long samplesTrained,
      RunCounters counters)
      implements ShardReport {}

  /**
   * A batch of telemetry from one shard attempt; the run answers {@link TelemetryAck} once it has written it.
   * {@code seq} numbers the attempt's batches from 0: a batch sent again after a lost acknowledgement is
   * acknowledged but not written twice.
   */
  record TelemetryBatch(
      String runId,
      String workerId,
      int shard,
      int attempt,
      long seq,
      List<TelemetryEvent> events,
      ActorRef<TelemetryAck> replyTo)
      implements RunCommand, QuarryMessage {
    /** The most serialized bytes one event takes in a batch (class id, two varlongs, two varints, three floats). */
    public static final int MAX_EVENT_BYTES = 64;
    /** What the batch's own fields may take besides its events (ids, names, the reply ref). */
    private static final int FIELD_BYTES = 2048;

    public TelemetryBatch {
      events = List.copyOf(events);
    }

    /**
     * The most events one batch may hold and still fit a message of {@code messageBytes}
     * ({@link FrameBudget#messageBytes}): {@code telemetry.batch-size} allows up to 2^20 events, over 40 MB.
     */
    public static int maxEvents(int messageBytes) {
      return Math.max(1, (messageBytes - FIELD_BYTES) / MAX_EVENT_BYTES);
    }
  }

  /**
   * A worker's answer to a {@link WorkerCommand.MergedHardExamples} that holds entries it contributed: the payloads
   * of those entries it had not sent before for the run (none when its trainer registered no renderer, or every one
   * was sent already). Large answers come in several messages, in order; the last has {@code last} set. The run
   * writes each sample's payload once; at the run's final merge it waits for the last message of every
   * contributing worker (up to {@code quarry.coordinator.payloads.final-wait}) before it completes.
   *
   * @param runId the run
   * @param merge the merge whose buffer the payloads belong to
   * @param workerId the worker that rendered them
   * @param payloads at most one per sample, each for an entry of that merge with this worker's id
   * @param failed entries of this answer the worker could not render (the renderer threw or the payload was too big)
   * @param last whether this is the last message of the worker's answer to {@code merge}
   */
  record HardExamplePayloads(
      String runId, int merge, String workerId, List<HardExamplePayload> payloads, int failed, boolean last)
      implements RunCommand, QuarryMessage {
    public HardExamplePayloads {
      payloads = List.copyOf(payloads);
    }
  }

  /**
   * A worker has room for the parts of its share of merge {@code merge}'s buffer up to index {@code upTo - 1}
   * ({@link WorkerCommand.MergedHardExamples}, {@link PartWindow}).
   */
  record MergedCredit(String runId, int merge, String workerId, int upTo) implements RunCommand, QuarryMessage {}

  /**
   * Rank 0 of a run's process group ({@link DistributedRank}) is about to start on {@code workerId}: its program will
   * host the group's rendezvous at {@code host}:{@code port} ({@code MASTER_ADDR}, {@code MASTER_PORT}), a port its
   * worker found free. The run hands out the other ranks with it.
   */
  record RankEndpoint(String runId, int shard, int attempt, String workerId, String host, int port)
      implements RunCommand, QuarryMessage {}

  /** The run has written a {@link TelemetryBatch}; the sender's stream may send the next one. */
  enum TelemetryAck implements QuarryMessage {
    INSTANCE
  }

  /**
   * One chunk of a shard attempt's parameters for averaging round {@code round} ({@code sync.mode = average}). The
   * trainer's whole vector is {@code totalLength} floats cut as {@link ParameterChunks} says, sent in chunk order. The
   * run adds it to the round's sum and, once the round completes, answers {@code replyTo} with the average
   * ({@link WorkerCommand.AveragedChunk}) or why there is none ({@link WorkerCommand.AveragingFailed}). Like the other
   * reports it goes to the run actor itself, so it needs no fencing token; the answers carry the run's incarnation.
   *
   * @param round the averaging round: the shard step divided by {@code sync.every}, so every shard numbers it alike
   * @param chunk this chunk's index, from 0
   * @param chunks how many chunks the vector takes
   * @param totalLength the vector's length in floats; every shard of a run must send the same
   * @param values the chunk's floats
   */
  record SyncChunk(
      String runId,
      int shard,
      int attempt,
      String workerId,
      long round,
      int chunk,
      int chunks,
      int totalLength,
      float[] values,
      ActorRef<WorkerCommand> replyTo)
      implements RunCommand, QuarryMessage {}

  /**
   * A shard attempt's data plane is listening at {@code host:port} ({@code sync.transport = ring}): the run puts it
   * on the run's all-reduce ring and tells every member ({@link WorkerCommand.RingFormed}).
   */
  record RingJoin(String runId, int shard, int attempt, String workerId, String host, int port,
      ActorRef<WorkerCommand> replyTo) implements RunCommand, QuarryMessage {}

  /**
   * A round of ring epoch {@code epoch} aborted on this shard attempt ({@code reason}): that ring is over, and the run
   * forms a new one under a newer epoch.
   */
  record RingAborted(String runId, int shard, int attempt, String workerId, long epoch, String reason)
      implements RunCommand, QuarryMessage {}
}
