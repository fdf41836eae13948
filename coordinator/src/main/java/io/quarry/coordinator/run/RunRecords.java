package io.quarry.coordinator.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.coordinator.merge.MergeRounds;
import io.quarry.coordinator.store.RunStoreException;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunState;
import io.quarry.protocol.TelemetryEvent;
import java.time.Clock;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The schema of one run's records, in one place: every line of {@code events.jsonl} (a typed method per event type),
 * every line of {@code hard_examples.jsonl}, every row of {@code scalars.csv}, and the totals JSON the run store keeps
 * beside the run record. {@link RunDirectory} only writes what this builds.
 *
 * <p>Every event has {@code type}, {@code ts} (ISO-8601 UTC), {@code ts_unix_ns} and {@code run_id}; a shard's events
 * add {@code worker_id} (when a worker is involved), {@code shard} and {@code attempt}, then their own fields.
 * Lifecycle events are stamped with the clock's time now; telemetry events keep the time the worker gave them.
 */
public final class RunRecords {
  /** Columns of {@code scalars.csv}, in order. */
  public static final String SCALARS_HEADER = "step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final String runId;
  private final Clock clock;

  /** Records of run {@code runId}, stamped with {@code clock}'s time. */
  public RunRecords(String runId, Clock clock) {
    this.runId = runId;
    this.clock = clock;
  }

  // --- the run ---

  /** A new run was accepted. */
  public ObjectNode runSubmitted(String name, String trainer, int shards, long totalSteps, boolean telemetry) {
    ObjectNode event = event("run_submitted");
    event.put("name", name);
    event.put("trainer", trainer);
    event.put("shards", shards);
    event.put("total_steps", totalSteps);
    event.put("telemetry", telemetry);
    return event;
  }

  /**
   * The run published an all-reduce ring ({@code sync.transport = ring}): its epoch, its members' shards and attempts
   * in ring order, and why ({@code formed}, {@code member_left}, {@code member_joined}, {@code round_aborted}).
   */
  public ObjectNode ringFormed(long epoch, List<Integer> shards, List<Integer> attempts, String why) {
    ObjectNode event = event("ring_formed");
    event.put("epoch", epoch);
    ArrayNode members = event.putArray("shards");
    shards.forEach(members::add);
    ArrayNode tries = event.putArray("attempts");
    attempts.forEach(tries::add);
    event.put("why", why);
    return event;
  }

  /** The run's first shard was handed to a worker. */
  public ObjectNode runStarted() {
    return event("run_started");
  }

  /** A new coordinator incarnation took the run over; {@code unclaimed}: its shards running on workers. */
  public ObjectNode runRecovered(long incarnation, RunState recordedStatus, Collection<Integer> unclaimed) {
    ObjectNode event = event("run_recovered");
    event.put("incarnation", incarnation);
    event.put("recorded_status", recordedStatus.wireName());
    ArrayNode shards = event.putArray("unclaimed_shards");
    unclaimed.forEach(shards::add);
    return event;
  }

  /**
   * A person resumed the stopped or failed run: how it had ended, the keys changed, the shards that continue from
   * their checkpoints, and the steps reached so far.
   */
  public ObjectNode runResumed(RunState previousStatus, String previousReason, List<String> overrides,
      Collection<Integer> pending, long steps) {
    ObjectNode event = event("run_resumed");
    event.put("previous_status", previousStatus.wireName());
    event.put("previous_reason", previousReason);
    ArrayNode changed = event.putArray("overrides");
    overrides.forEach(changed::add);
    ArrayNode shards = event.putArray("shards");
    pending.forEach(shards::add);
    event.put("steps", steps);
    return event;
  }

  /** A stop was asked for. */
  public ObjectNode runStopping(String reason) {
    ObjectNode event = event("run_stopping");
    event.put("reason", reason);
    return event;
  }

  /**
   * The run's last event.
   *
   * @param end how it ended: its status, and its reason unless it completed
   * @param steps shard steps reached, all shards together
   * @param payloadsWritten hard-example payloads in the run directory
   * @param hardExamplesWarning empty when every merge heard from every worker; else what a person should know
   * @param lastIncomplete the latest merge that left a worker out, or null
   */
  public ObjectNode runCompleted(RunState status, String reason, long steps, long totalSteps, RunTotals totals,
      long payloadsWritten, long wallMs, RunCounters counters, String hardExamplesWarning,
      MergeRounds.Merged lastIncomplete) {
    ObjectNode event = event("run_completed");
    event.put("status", status.wireName());
    event.put("steps", steps);
    event.put("total_steps", totalSteps);
    event.put("steps_trained", totals.stepsTrained());
    event.put("steps_redone", totals.stepsRedone());
    event.put("samples", totals.samplesTrained());
    event.put("dropped_events", totals.droppedEvents());
    event.put("merges", totals.merges());
    event.put("payloads", payloadsWritten);
    event.put("payloads_dropped", counters.get(RunCounter.PAYLOADS_DROPPED));
    event.put("wall_ms", wallMs);
    if (!Float.isNaN(totals.lastLoss())) event.put("final_loss", totals.lastLoss());
    if (!totals.shardMetrics().isEmpty()) {
      ObjectNode metrics = event.putObject("metrics");
      metrics.put("val_loss", meanValLoss(totals));
      metrics.put("val_accuracy", meanValAccuracy(totals));
      metrics.put("shards", totals.shardMetrics().size());
    }
    if (status != RunState.COMPLETED) event.put("reason", reason);
    event.put("merges_incomplete", counters.get(RunCounter.MERGES_INCOMPLETE));
    if (!hardExamplesWarning.isEmpty()) {
      event.put("hard_examples_warning", hardExamplesWarning);
      if (lastIncomplete != null) {
        event.put("last_incomplete_merge", lastIncomplete.merge());
        event.set("last_missing_why", missingWhy(lastIncomplete));
      }
    }
    event.set("counters", counters(counters));
    return event;
  }

  // --- shards ---

  /** A shard attempt was handed to a worker; {@code resumeFrom} is its checkpoint, or null for a fresh start. */
  public ObjectNode shardAssigned(int shard, int attempt, String workerId, String resumeFrom, long resumeStep) {
    ObjectNode event = shardEvent("shard_assigned", shard, attempt, workerId);
    if (resumeFrom != null) {
      event.put("resume_from", resumeFrom);
      event.put("resume_step", resumeStep);
    }
    return event;
  }

  /** The attempt's trainer started, at {@code startStep}. */
  public ObjectNode shardStarted(int shard, int attempt, String workerId, long startStep, String resumeFrom) {
    ObjectNode event = shardEvent("shard_started", shard, attempt, workerId);
    event.put("start_step", startStep);
    if (resumeFrom == null) event.putNull("resume_from");
    else event.put("resume_from", resumeFrom);
    return event;
  }

  /** A checkpoint of the shard could not be used to resume it: gone or damaged; an older one (or the start) served. */
  public ObjectNode checkpointUnusable(int shard, int attempt, String workerId, String path, String reason) {
    ObjectNode event = shardEvent("checkpoint_unusable", shard, attempt, workerId);
    event.put("path", path);
    event.put("reason", reason);
    return event;
  }

  /** The attempt wrote a checkpoint (a per-step event: skipped in fast mode). */
  public ObjectNode checkpoint(int shard, int attempt, String workerId, long step, String path) {
    ObjectNode event = shardEvent("checkpoint", shard, attempt, workerId);
    event.put("step", step);
    event.put("path", path);
    return event;
  }

  /** The attempt trained its shard to the end. */
  public ObjectNode shardCompleted(int shard, int attempt, String workerId, long endStep, long stepsTrained,
      long samplesTrained) {
    ObjectNode event = shardEvent("shard_completed", shard, attempt, workerId);
    event.put("end_step", endStep);
    event.put("steps_trained", stepsTrained);
    event.put("samples_trained", samplesTrained);
    return event;
  }

  /** The attempt's trainer failed; the shard has failed {@code failures} times of {@code maxAttempts}. */
  public ObjectNode shardFailed(int shard, int attempt, String workerId, String reason, int failures, int maxAttempts) {
    ObjectNode event = shardEvent("shard_failed", shard, attempt, workerId);
    event.put("reason", reason);
    event.put("failures", failures);
    event.put("max_attempts", maxAttempts);
    return event;
  }

  /** A failed shard waits for a worker again, as {@code attempt}, from {@code resumeStep}. */
  public ObjectNode shardRetried(int shard, int attempt, long resumeStep) {
    ObjectNode event = shardEvent("shard_retried", shard, attempt, null);
    event.put("resume_step", resumeStep);
    return event;
  }

  /** The attempt stopped on request at {@code endStep}. */
  public ObjectNode shardStopped(int shard, int attempt, String workerId, long endStep) {
    ObjectNode event = shardEvent("shard_stopped", shard, attempt, workerId);
    event.put("end_step", endStep);
    return event;
  }

  /**
   * The run's process group ({@code process.distributed = torch}) started: every rank handed out, with rank 0's
   * rendezvous.
   *
   * @param workers the workers of the ranks, in rank order: {@code world_size} is their count
   * @param ranks the group's configured ranks ({@code process.ranks})
   * @param smallerBecause why the group started with fewer ranks than that (elastic); null or empty when whole
   */
  public ObjectNode groupStarted(int restartCount, String masterAddr, int masterPort, List<String> workers,
      long startStep, int ranks, String smallerBecause) {
    ObjectNode event = event("group_started");
    event.put("restart_count", restartCount);
    event.put("world_size", workers.size());
    event.put("ranks", ranks);
    if (smallerBecause != null && !smallerBecause.isEmpty()) event.put("smaller_because", smallerBecause);
    event.put("master_addr", masterAddr);
    event.put("master_port", masterPort);
    event.put("start_step", startStep);
    var ranked = event.putArray("workers");
    workers.forEach(ranked::add);
    return event;
  }

  /**
   * The run's process group lost a rank ({@code cause}): every other rank was stopped, and the group starts again
   * from rank 0's checkpoint at {@code resumeStep} ({@code resumeFrom}, null: the start) as restart
   * {@code restartCount}.
   *
   * @param stepsLost the steps rank 0 had reached past that checkpoint, which the group trains again
   */
  public ObjectNode groupRestarted(int restartCount, int maxRestarts, String cause, long resumeStep, String resumeFrom,
      long stepsLost) {
    ObjectNode event = event("group_restarted");
    event.put("restart_count", restartCount);
    event.put("max_restarts", maxRestarts);
    event.put("cause", cause);
    event.put("resume_step", resumeStep);
    if (resumeFrom != null) event.put("resume_from", resumeFrom);
    event.put("steps_lost", stepsLost);
    return event;
  }

  /** A worker of the run was lost. */
  public ObjectNode workerLost(String workerId, String reason) {
    ObjectNode event = event("worker_lost");
    event.put("worker_id", workerId);
    event.put("reason", reason);
    return event;
  }

  /** A lost worker's shard waits for another worker, as {@code attempt}. */
  public ObjectNode shardReassigned(int shard, int attempt, String fromWorker, long resumeStep, String resumeFrom) {
    ObjectNode event = shardEvent("shard_reassigned", shard, attempt, null);
    event.put("from_worker", fromWorker);
    event.put("resume_step", resumeStep);
    if (resumeFrom != null) event.put("resume_from", resumeFrom);
    return event;
  }

  /** A recovered shard that no worker reclaimed within the recovery grace waits for a worker, as {@code attempt}. */
  public ObjectNode shardUnclaimed(int shard, int attempt, long resumeStep, String resumeFrom) {
    ObjectNode event = shardEvent("shard_reassigned", shard, attempt, null);
    event.put("reason", "not reclaimed by its worker after the coordinator failover");
    event.put("resume_step", resumeStep);
    if (resumeFrom != null) event.put("resume_from", resumeFrom);
    return event;
  }

  /** A worker handed its running attempt over to coordinator incarnation {@code incarnation}. */
  public ObjectNode shardAdopted(int shard, int attempt, String workerId, long incarnation) {
    ObjectNode event = shardEvent("shard_adopted", shard, attempt, workerId);
    event.put("incarnation", incarnation);
    return event;
  }

  /** The shard's attempt is far slower than the run's other shards. */
  public ObjectNode straggler(int shard, int attempt, String workerId, double stepTimeMs, double medianStepTimeMs,
      double factor, boolean speculative) {
    ObjectNode event = shardEvent("straggler", shard, attempt, workerId);
    event.put("step_time_ms", Math.round(stepTimeMs * 10) / 10.0);
    event.put("median_step_time_ms", Math.round(medianStepTimeMs * 10) / 10.0);
    event.put("factor", factor);
    event.put("speculative", speculative);
    return event;
  }

  /** A copy of a straggling shard's attempt started as {@code attempt} on {@code workerId}. */
  public ObjectNode shardSpeculated(int shard, int attempt, String workerId, String copyOfWorker, int copyOfAttempt,
      long resumeStep) {
    ObjectNode event = shardEvent("shard_speculated", shard, attempt, workerId);
    event.put("copy_of_worker", copyOfWorker);
    event.put("copy_of_attempt", copyOfAttempt);
    event.put("resume_step", resumeStep);
    return event;
  }

  /** One copy of a speculated shard finished first; the other was stopped. */
  public ObjectNode speculationResolved(int shard, int attempt, String workerId, String stoppedWorker,
      int stoppedAttempt) {
    ObjectNode event = shardEvent("speculation_resolved", shard, attempt, workerId);
    event.put("stopped_worker", stoppedWorker);
    event.put("stopped_attempt", stoppedAttempt);
    return event;
  }

  /** An alert: a shard's loss became non-finite, or the run stalled ({@link RunAlerts}). */
  public ObjectNode alert(RunAlerts.Alert alert, boolean stopping) {
    ObjectNode event = alert.shard() >= 0 ? shardEvent("alert", alert.shard(), -1, alert.workerId()) : event("alert");
    if (alert.shard() >= 0) event.remove("attempt");
    event.put("kind", alert.kind());
    event.put("step", alert.step());
    event.put("message", alert.message());
    event.put("stops_run", stopping);
    return event;
  }

  // --- merges and averaging ---

  /** One line of {@code hard_examples.jsonl}: a merge, its statistics and its entries, highest loss first. */
  public ObjectNode mergeRecord(MergeRounds.Merged merged, String mode, int k) {
    ObjectNode record = JSON.createObjectNode();
    record.put("merge", merged.merge());
    record.put("ts", DateTimeFormatter.ISO_INSTANT.format(clock.instant()));
    record.put("mode", mode);
    record.put("k", k);
    putNumberOrNull(record, "threshold", merged.result().threshold());
    ArrayNode workers = record.putArray("workers");
    merged.result().workers().forEach(workers::add);
    ArrayNode missing = record.putArray("missing");
    merged.missing().forEach(missing::add);
    record.set("missing_why", missingWhy(merged));
    ObjectNode parts = record.putObject("snapshot_parts");
    merged.parts().forEach(parts::put);
    ObjectNode counts = record.putObject("counts");
    merged.result().takenPerWorker().forEach(counts::put);
    record.put("gather_ms", Math.round(merged.gatherMs() * 1000) / 1000.0);
    record.put("merge_ms", Math.round(merged.mergeMs() * 1000) / 1000.0);
    record.put("samples_seen", merged.result().samplesSeen());
    record.put("above_threshold", merged.result().aboveThreshold());
    if (Float.isNaN(merged.result().maxLoss())) record.putNull("max_loss");
    else record.put("max_loss", merged.result().maxLoss());
    ArrayNode entries = record.putArray("entries");
    for (HardExample entry : merged.result().entries()) {
      ObjectNode node = entries.addObject();
      node.put("sample_id", entry.sampleId());
      node.put("loss", entry.loss());
      node.put("worker_id", entry.workerId());
      node.put("step", entry.step());
      // null, not left out, when the trainer did not say: every entry has the same fields.
      if (entry.hasLabel()) node.put("label", entry.label());
      else node.putNull("label");
      if (entry.hasPrediction()) node.put("predicted", entry.predicted());
      else node.putNull("predicted");
    }
    return record;
  }

  /** The {@code hard_examples} event of a merge (a per-step event: skipped in fast mode). */
  public ObjectNode hardExamples(MergeRounds.Merged merged) {
    ObjectNode event = event("hard_examples");
    event.put("merge", merged.merge());
    event.put("entries", merged.result().entries().size());
    putNumberOrNull(event, "threshold", merged.result().threshold());
    ArrayNode missing = event.putArray("missing");
    merged.missing().forEach(missing::add);
    if (!merged.missingWhy().isEmpty()) event.set("missing_why", missingWhy(merged));
    return event;
  }

  /** {@code {"worker": "why", ...}}: every worker the merge left out, with the reason. */
  private static ObjectNode missingWhy(MergeRounds.Merged merged) {
    ObjectNode why = JSON.createObjectNode();
    merged.missingWhy().forEach(why::put);
    return why;
  }

  /** An averaging round completed. */
  public ObjectNode syncRound(SyncRounds.Completed round) {
    ObjectNode event = event("sync_round");
    event.put("round", round.round());
    event.put("parameters", round.parameters());
    event.put("contributors", round.contributors().size());
    ArrayNode contributors = event.putArray("shards");
    round.contributors().forEach(contributors::add);
    ArrayNode missing = event.putArray("missing");
    round.missing().forEach(missing::add);
    event.put("timed_out", round.timedOut());
    event.put("averaged", round.averaged());
    event.put("wall_ms", round.wallMs());
    return event;
  }

  // --- telemetry ---

  /** A worker's telemetry event as a line of {@code events.jsonl}, stamped with the worker's time; null if unknown. */
  public ObjectNode telemetry(String workerId, TelemetryEvent telemetry) {
    if (telemetry instanceof TelemetryEvent.Step step) {
      ObjectNode event = workerEvent("step", step, workerId);
      event.put("step", step.step());
      event.put("epoch", step.epoch());
      event.put("loss", step.loss());
      event.put("lr", step.lr());
      event.put("samples_per_s", step.samplesPerSec());
      return event;
    } else if (telemetry instanceof TelemetryEvent.Epoch epoch) {
      ObjectNode event = workerEvent("epoch", epoch, workerId);
      event.put("step", epoch.step());
      event.put("epoch", epoch.epoch());
      event.put("mean_loss", epoch.meanLoss());
      return event;
    } else if (telemetry instanceof TelemetryEvent.Eval eval) {
      ObjectNode event = workerEvent("eval", eval, workerId);
      event.put("step", eval.step());
      event.put("epoch", eval.epoch());
      event.put("split", "val");
      event.put("val_loss", eval.valLoss());
      event.put("val_accuracy", eval.valAccuracy());
      return event;
    }
    return null;
  }

  /** A worker's telemetry event as a row of {@code scalars.csv} (with its newline): steps and evaluations; else null. */
  public static String scalarsRow(String workerId, TelemetryEvent telemetry) {
    if (telemetry instanceof TelemetryEvent.Step step) {
      return scalarsRow(step.step(), step.epoch(), workerId, step.shard(), "train", step.loss(), step.lr(),
          step.samplesPerSec(), Float.NaN, step.tsUnixNs());
    } else if (telemetry instanceof TelemetryEvent.Eval eval) {
      return scalarsRow(eval.step(), eval.epoch(), workerId, eval.shard(), "val", eval.valLoss(), Float.NaN, Float.NaN,
          eval.valAccuracy(), eval.tsUnixNs());
    }
    return null;
  }

  private static String scalarsRow(long step, int epoch, String workerId, int shard, String split, float loss, float lr,
      float samplesPerSec, float accuracy, long tsUnixNs) {
    return new StringBuilder(96)
        .append(step).append(',')
        .append(epoch).append(',')
        .append(workerId).append(',')
        .append(shard).append(',')
        .append(split).append(',')
        .append(csv(loss)).append(',')
        .append(csv(lr)).append(',')
        .append(csv(samplesPerSec)).append(',')
        .append(csv(accuracy)).append(',')
        .append(tsUnixNs).append('\n')
        .toString();
  }

  private static String csv(float value) {
    return Float.isNaN(value) ? "" : Float.toString(value);
  }

  // --- the run store's totals ---

  /** {@code totals} as the run store keeps them (the run record's metrics JSON). */
  public static String totalsJson(RunTotals totals) {
    ObjectNode node = JSON.createObjectNode();
    node.put("steps_trained", totals.stepsTrained());
    node.put("samples", totals.samplesTrained());
    node.put("dropped_events", totals.droppedEvents());
    node.put("merges", totals.merges());
    if (Float.isNaN(totals.lastLoss())) node.putNull("final_loss");
    else node.put("final_loss", totals.lastLoss());
    node.put("steps_redone", totals.stepsRedone());
    ObjectNode shards = node.putObject("shard_metrics");
    new TreeMap<>(totals.shardMetrics()).forEach((shard, metrics) -> {
      ObjectNode entry = shards.putObject(Integer.toString(shard));
      putFloatOrNull(entry, "val_loss", metrics.valLoss());
      putFloatOrNull(entry, "val_accuracy", metrics.valAccuracy());
    });
    node.set("counters", counters(totals.counters()));
    ObjectNode shardSteps = node.putObject("shard_steps");
    totals.shardSteps().forEach((shard, step) -> shardSteps.put(Integer.toString(shard), step));
    ObjectNode workers = node.putObject("worker_counters");
    new TreeMap<>(totals.workerCounters()).forEach((worker, counters) -> workers.set(worker, counters(counters)));
    return node.toString();
  }

  /**
   * The totals in {@code json} as {@link #totalsJson} wrote them; {@link RunTotals#ZERO} for none. Totals written
   * before counters existed read with no counters, their {@code dropped_events} kept as one worker's (named "").
   *
   * @throws RunStoreException when {@code json} is not totals JSON
   */
  public static RunTotals totals(String json) {
    if (json == null || json.isBlank()) return RunTotals.ZERO;
    try {
      JsonNode node = JSON.readTree(json);
      Map<Integer, RunTotals.ShardMetrics> shardMetrics = new TreeMap<>();
      node.path("shard_metrics").fields().forEachRemaining(entry -> shardMetrics.put(Integer.parseInt(entry.getKey()),
          new RunTotals.ShardMetrics(readFloat(entry.getValue().path("val_loss")),
              readFloat(entry.getValue().path("val_accuracy")))));
      Map<String, RunCounters> workerCounters = new HashMap<>();
      JsonNode workers = node.path("worker_counters");
      if (workers.isObject()) {
        workers.fields().forEachRemaining(entry -> workerCounters.put(entry.getKey(), readCounters(entry.getValue())));
      } else if (node.path("dropped_events").asLong() > 0) {
        workerCounters.put("", RunCounters.ZERO.with(RunCounter.TELEMETRY_DROPPED, node.path("dropped_events").asLong()));
      }
      Map<Integer, Long> shardSteps = new TreeMap<>();
      node.path("shard_steps").fields().forEachRemaining(entry ->
          shardSteps.put(Integer.parseInt(entry.getKey()), entry.getValue().asLong()));
      return new RunTotals(node.path("steps_trained").asLong(), node.path("samples").asLong(),
          node.path("merges").asInt(), readFloat(node.path("final_loss")), node.path("steps_redone").asLong(),
          shardMetrics, readCounters(node.path("counters")), workerCounters, shardSteps);
    } catch (java.io.IOException | NumberFormatException e) {
      throw new RunStoreException("stored metrics are not Quarry's totals JSON: " + json, e);
    }
  }

  /** The mean final validation loss of the shards that evaluated; NaN when none did. */
  public static double meanValLoss(RunTotals totals) {
    return totals.shardMetrics().values().stream().mapToDouble(RunTotals.ShardMetrics::valLoss).average()
        .orElse(Double.NaN);
  }

  /** The mean final validation accuracy of the shards that evaluated; NaN when none did. */
  public static double meanValAccuracy(RunTotals totals) {
    return totals.shardMetrics().values().stream().mapToDouble(RunTotals.ShardMetrics::valAccuracy).average()
        .orElse(Double.NaN);
  }

  // --- common fields ---

  /** {@code counters} as a JSON object, by label, in id order. */
  public static ObjectNode counters(RunCounters counters) {
    ObjectNode node = JSON.createObjectNode();
    counters.byLabel().forEach(node::put);
    return node;
  }

  private static RunCounters readCounters(JsonNode node) {
    RunCounters counters = RunCounters.ZERO;
    for (RunCounter counter : RunCounter.values()) {
      JsonNode value = node.path(counter.label());
      if (value.canConvertToLong()) counters = counters.with(counter, value.asLong());
    }
    return counters;
  }

  private ObjectNode event(String type) {
    Instant now = clock.instant();
    return event(type, now.getEpochSecond() * 1_000_000_000L + now.getNano());
  }

  private ObjectNode event(String type, long tsUnixNs) {
    ObjectNode node = JSON.createObjectNode();
    node.put("type", type);
    node.put("ts", DateTimeFormatter.ISO_INSTANT.format(Instant.ofEpochSecond(0, tsUnixNs)));
    node.put("ts_unix_ns", tsUnixNs);
    node.put("run_id", runId);
    return node;
  }

  private ObjectNode shardEvent(String type, int shard, int attempt, String workerId) {
    ObjectNode event = event(type);
    if (workerId != null) event.put("worker_id", workerId);
    event.put("shard", shard);
    event.put("attempt", attempt);
    return event;
  }

  private ObjectNode workerEvent(String type, TelemetryEvent telemetry, String workerId) {
    ObjectNode event = event(type, telemetry.tsUnixNs());
    event.put("worker_id", workerId);
    event.put("shard", telemetry.shard());
    return event;
  }

  private static void putNumberOrNull(ObjectNode node, String field, double value) {
    if (Double.isNaN(value)) node.putNull(field);
    else node.put(field, value);
  }

  private static void putFloatOrNull(ObjectNode node, String field, float value) {
    if (Float.isNaN(value)) node.putNull(field);
    else node.put(field, value);
  }

  private static float readFloat(JsonNode value) {
    return value.isNumber() ? (float) value.asDouble() : Float.NaN;
  }
}
