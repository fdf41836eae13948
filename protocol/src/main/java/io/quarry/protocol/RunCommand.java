package io.quarry.protocol;

import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a run actor (the coordinator's child for one run) understands from workers. Reports name the shard
 * attempt they belong to; the run ignores reports of an attempt it has already given up on.
 */
public sealed interface RunCommand
    permits RunCommand.ShardReport, RunCommand.TelemetryBatch, RunCommand.Local {

  /** Messages private to the coordinator's implementation; they never leave its JVM. */
  non-sealed interface Local extends RunCommand, LocalMessage {}

  /** A lifecycle report about one shard attempt. Never dropped, sent in fast mode too. */
  sealed interface ShardReport extends RunCommand, QuarryMessage
      permits ShardStarted, ShardCheckpointed, ShardCompleted, ShardFailed, ShardStopped {
    String runId();

    int shard();

    int attempt();

    String workerId();
  }

  /** The trainer started; {@code startStep} is 0 or the step of the checkpoint it resumed from. */
  record ShardStarted(String runId, int shard, int attempt, String workerId, long startStep)
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
   * @param droppedEvents step events this attempt dropped under back-pressure
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
      long droppedEvents,
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
      long droppedEvents)
      implements ShardReport {}

  /** The shard's trainer stopped on request. */
  record ShardStopped(
      String runId,
      int shard,
      int attempt,
      String workerId,
      long endStep,
      long stepsTrained,
      long samplesTrained,
      long droppedEvents)
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
    public TelemetryBatch {
      events = List.copyOf(events);
    }
  }

  /** The run has written a {@link TelemetryBatch}; the sender's stream may send the next one. */
  enum TelemetryAck implements QuarryMessage {
    INSTANCE
  }
}
