package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.CoordinatorProtocol.MergeCollected;
import io.quarry.coordinator.merge.MergeRounds;
import io.quarry.coordinator.merge.MergedShares;
import io.quarry.coordinator.run.HardExamplePayloadFiles;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunMetrics;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.RunCommand.HardExamplePayloads;
import io.quarry.protocol.RunCommand.MergedCredit;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.WorkerCommand;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * The run's hard-example all-gather, for its run actor: a merge round on the interval and a final one, each gathered
 * by a short-lived {@link MergeAggregator} child, recorded (counters, {@code hard_examples.jsonl}, the telemetry
 * line), and each participant's share of the merged buffer sent back in credited parts; the payloads of merged
 * entries are written as they come, and the final merge's gate says when the run may complete. The rounds themselves
 * ({@link MergeRounds}) and the shares ({@link MergedShares}) are plain logic; this class ties them to the actor's
 * context and the run's records.
 */
final class RunMerges {
  /** Dropped payloads logged one by one, per run; later ones are only counted (run_completed has the total). */
  private static final int LOGGED_PAYLOAD_DROPS = 10;

  private final ActorContext<RunCommand> context;
  private final String runId;
  private final long incarnation;
  private final RunConfig config;
  private final MergeRounds rounds;
  private final MergedShares shares;
  private final HardExamplePayloadFiles payloads;
  private final RunProgress progress;
  private final RunMetrics metrics;
  private final RunRecords records;
  private final RunDirectory directory;
  /** The all-gather in flight, or null: told of a worker lost meanwhile. */
  private ActorRef<MergeAggregator.Command> gathering;

  RunMerges(ActorContext<RunCommand> context, String runId, long incarnation, RunConfig config, MergeRounds rounds,
      MergedShares shares, HardExamplePayloadFiles payloads, RunProgress progress, RunMetrics metrics,
      RunRecords records, RunDirectory directory) {
    this.context = context;
    this.runId = runId;
    this.incarnation = incarnation;
    this.config = config;
    this.rounds = rounds;
    this.shares = shares;
    this.payloads = payloads;
    this.progress = progress;
    this.metrics = metrics;
    this.records = records;
    this.directory = directory;
  }

  /** The merge interval passed: a round starts unless one is in flight or nobody has trained yet. */
  void tick(Map<String, ActorRef<WorkerCommand>> participants) {
    if (!rounds.inFlight() && !participants.isEmpty()) gather(rounds.start(), participants);
  }

  /** The run's end is decided: its last round starts. */
  void startFinal(Map<String, ActorRef<WorkerCommand>> participants) {
    gather(rounds.startFinal(), participants);
  }

  /** A short-lived child asks every participant for its buffer and answers once. */
  private void gather(int merge, Map<String, ActorRef<WorkerCommand>> participants) {
    gathering = context.spawn(MergeAggregator.create(runId, merge, incarnation, Map.copyOf(participants),
        config.hardExamples.k(), config.hardExamples.mergeTimeout(), context.getSelf()), "merge-" + merge);
  }

  /**
   * Merges what the all-gather brought, records it (with why each worker left out was) and sends each participant its
   * share of the merged buffer: the threshold and its own entries, in parts that fit the frame. Returns the telemetry
   * lines the run directory could not take.
   */
  RunDirectory.Unwritten collected(MergeCollected collected, Map<String, ActorRef<WorkerCommand>> participants) {
    gathering = null;
    MergeRounds.Merged merged = rounds.collected(collected.merge(), collected.snapshots(), collected.missingWhy(),
        collected.parts());
    long gatherMs = Math.round(merged.gatherMs());
    progress.count(RunCounter.MERGES, 1);
    progress.count(RunCounter.MERGE_WORKERS_MISSING, merged.missing().size());
    if (!merged.missingWhy().isEmpty()) {
      progress.count(RunCounter.MERGES_INCOMPLETE, 1);
      if (merged.unanswered()) progress.count(RunCounter.MERGES_UNANSWERED, 1);
      context.getLog().warn("run {}: merge {} left out {}", runId, merged.merge(), merged.missingWhy());
    }
    progress.count(RunCounter.MERGE_GATHER_MS_TOTAL, gatherMs);
    progress.count(RunCounter.MERGE_GATHER_MS_MAX, gatherMs);
    metrics.merged(merged.gatherMs() / 1000.0, merged.result().entries().size());
    directory.writeMerge(records.mergeRecord(merged, rounds.mode().configName(), rounds.k()));
    RunDirectory.Unwritten unwritten = config.telemetryEnabled()
        ? directory.writeTelemetryEvent(records.hardExamples(merged)) : RunDirectory.Unwritten.NONE;
    shares.start(merged.merge(), merged.result().entries(), merged.result().threshold(), participants.keySet(),
        context.getSelf()).forEach((workerId, parts) -> parts.forEach(participants.get(workerId)::tell));
    rounds.sent(merged, participants.keySet());
    return unwritten;
  }

  /** A worker has room for more parts of its share of a merged buffer. */
  void credit(MergedCredit credit, ActorRef<WorkerCommand> worker) {
    if (worker != null) shares.credit(credit.workerId(), credit.merge(), credit.upTo()).forEach(worker::tell);
  }

  /** Writes the payloads of merged entries a worker rendered; a payload the limits refuse is dropped and counted. */
  void payloads(HardExamplePayloads message) {
    for (HardExamplePayload payload : message.payloads()) {
      HardExamplePayloadFiles.Outcome outcome = payloads.write(payload, message.workerId(), message.merge());
      if (outcome instanceof HardExamplePayloadFiles.Outcome.Dropped drop) {
        progress.count(RunCounter.PAYLOADS_DROPPED, 1);
        if (payloads.dropped() <= LOGGED_PAYLOAD_DROPS) {
          context.getLog().warn("run {}: hard-example payload dropped: {}{}", runId, drop.reason(),
              payloads.dropped() == LOGGED_PAYLOAD_DROPS ? " (further drops are only counted)" : "");
        }
      }
    }
    progress.set(RunCounter.PAYLOADS_WRITTEN, payloads.written());
    rounds.payloadsReceived(message.workerId(), message.merge(), message.last());
  }

  /** The wait for the final merge's payloads is over: the run completes without those still owed. */
  void giveUpOnPayloads(java.time.Duration waited) {
    context.getLog().warn("run {}: completing without the hard-example payloads of {} (not sent within {})",
        runId, rounds.payloadsAwaited(), waited);
    rounds.giveUpOnPayloads();
  }

  /** The lost worker takes no more part in merges and owes no payloads; a gather in flight leaves it out now. */
  void workerLost(String workerId, String reason) {
    rounds.workerLost(workerId);
    shares.workerLost(workerId);
    if (gathering != null) gathering.tell(new MergeAggregator.WorkerLost(workerId, reason));
  }

  boolean inFlight() {
    return rounds.inFlight();
  }

  boolean finalStarted() {
    return rounds.finalStarted();
  }

  /** True once the final merge is recorded and every payload it asked for is in (or given up on). */
  boolean gateOpen() {
    return rounds.gateOpen();
  }

  int started() {
    return rounds.started();
  }

  List<HardExample> hardest() {
    return rounds.hardest();
  }

  /** The most recent merge that left a worker out, or null. */
  MergeRounds.Merged lastIncomplete() {
    return rounds.lastIncomplete();
  }

  int payloadsWritten() {
    return payloads.written();
  }

  /** The run's {@code hard_examples_warning}: empty while every merge has heard from every worker. */
  String warning(RunCounters counters) {
    return rounds.warning(counters.get(RunCounter.MERGES), counters.get(RunCounter.MERGES_INCOMPLETE),
        counters.get(RunCounter.MERGES_UNANSWERED));
  }

  void close() {
    payloads.close();
  }
}
