package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.ShardState;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A run as its directory tells it, for a dashboard with no coordinator to ask ({@code quarry dashboard}): the
 * lifecycle events of {@code events.jsonl} give the run's and every shard's state, attempts, workers, times and
 * outcome; the rows of {@code scalars.csv} give how far each shard has come, the last loss and throughput, and the
 * last validation scores. Fed in order, one event and one batch of rows at a time; answers as of what it was fed.
 * Also what the runs table shows beside a coordinator's status: the last validation scores and the alerts.
 */
final class RunStatusFromEvents {
  private static final class Shard {
    ShardState state = ShardState.PENDING;
    int attempt;
    int failures;
    String workerId;
    long step;
    long checkpointStep;
    String lastFailure = "";
    boolean straggler;
    String speculativeWorkerId;
    float lastLoss = Float.NaN;
    float samplesPerSec = Float.NaN;
    float valLoss = Float.NaN;
    float valAccuracy = Float.NaN;
  }

  private final String runId;
  private final Map<Integer, Shard> shards = new TreeMap<>();
  private final Set<String> workers = new LinkedHashSet<>();
  private String name = "";
  private String trainer = "";
  private RunState state = RunState.PENDING;
  private long submittedMs;
  private long startedMs;
  private long finishedMs;
  private long totalSteps;
  private long completedSteps = -1;
  private long droppedEvents;
  private float finalLoss = Float.NaN;
  private float lastLoss = Float.NaN;
  private double finalValAccuracy = Double.NaN;
  private double finalValLoss = Double.NaN;
  private double finalSamplesPerSec = Double.NaN;
  private String reason = "";
  private String hardExamplesWarning = "";
  private RunCounters counters = RunCounters.ZERO;
  private int alerts;
  private ObjectNode lastAlert;
  private boolean submitted;

  RunStatusFromEvents(String runId) {
    this.runId = runId;
  }

  /** Takes one event of {@code events.jsonl} (any but {@code step}). */
  void event(ObjectNode event) {
    String type = event.path("type").asText();
    long tsMs = event.path("ts_unix_ns").asLong() / 1_000_000L;
    int index = event.path("shard").asInt(-1);
    Shard shard = index >= 0 && event.has("shard") ? shards.computeIfAbsent(index, i -> new Shard()) : null;
    String workerId = event.path("worker_id").isTextual() ? event.get("worker_id").asText() : null;
    if (workerId != null && shard != null) workers.add(workerId);
    switch (type) {
      case "run_submitted" -> {
        submitted = true;
        submittedMs = tsMs;
        name = event.path("name").asText("");
        trainer = event.path("trainer").asText("");
        totalSteps = event.path("total_steps").asLong();
        int count = event.path("shards").asInt();
        for (int i = 0; i < count; i++) shards.computeIfAbsent(i, x -> new Shard());
      }
      case "run_started" -> {
        startedMs = tsMs;
        if (!state.isFinal() && state != RunState.STOPPING) state = RunState.RUNNING;
      }
      case "run_stopping" -> {
        if (!state.isFinal()) state = RunState.STOPPING;
        reason = event.path("reason").asText("");
      }
      case "run_completed" -> runCompleted(event, tsMs);
      case "alert" -> {
        alerts++;
        lastAlert = event;
      }
      case "shard_assigned", "shard_adopted" -> {
        if (shard == null) return;
        shard.state = type.equals("shard_assigned") ? ShardState.ASSIGNED : ShardState.RUNNING;
        shard.attempt = event.path("attempt").asInt(shard.attempt);
        shard.workerId = workerId;
        shard.straggler = false;
        if (event.has("resume_step")) shard.step = Math.max(shard.step, event.get("resume_step").asLong());
      }
      case "shard_started" -> {
        if (shard == null || shard.attempt != event.path("attempt").asInt(shard.attempt)) return;
        shard.state = ShardState.RUNNING;
        shard.step = Math.max(shard.step, event.path("start_step").asLong());
      }
      case "checkpoint" -> {
        if (shard != null) shard.checkpointStep = Math.max(shard.checkpointStep, event.path("step").asLong());
      }
      case "shard_completed" -> {
        if (shard == null) return;
        shard.state = ShardState.DONE;
        shard.step = Math.max(shard.step, event.path("end_step").asLong());
        shard.speculativeWorkerId = null;
      }
      case "shard_failed" -> {
        if (shard == null) return;
        shard.state = ShardState.FAILED;
        shard.failures = event.path("failures").asInt(shard.failures + 1);
        shard.lastFailure = event.path("reason").asText("");
      }
      case "shard_retried", "shard_reassigned" -> {
        if (shard == null) return;
        shard.state = ShardState.PENDING;
        shard.attempt = event.path("attempt").asInt(shard.attempt);
        shard.workerId = null;
        shard.straggler = false;
      }
      case "shard_stopped" -> {
        if (shard == null) return;
        shard.state = ShardState.PENDING;
        shard.step = Math.max(shard.step, event.path("end_step").asLong());
      }
      case "straggler" -> {
        if (shard != null) shard.straggler = true;
      }
      case "shard_speculated" -> {
        if (shard != null) shard.speculativeWorkerId = workerId;
      }
      case "speculation_resolved" -> {
        if (shard != null) shard.speculativeWorkerId = null;
      }
      case "worker_lost" -> {
        if (workerId != null) workers.remove(workerId);
      }
      case "eval" -> {
        if (shard == null) return;
        shard.valLoss = (float) event.path("val_loss").asDouble(Double.NaN);
        shard.valAccuracy = (float) event.path("val_accuracy").asDouble(Double.NaN);
      }
      default -> {
        // Other events (merges, sync rounds, recoveries) change nothing shown here.
      }
    }
  }

  private void runCompleted(ObjectNode event, long tsMs) {
    finishedMs = tsMs;
    state = switch (event.path("status").asText()) {
      case "completed" -> RunState.COMPLETED;
      case "stopped" -> RunState.STOPPED;
      default -> RunState.FAILED;
    };
    reason = event.path("reason").asText("");
    hardExamplesWarning = event.path("hard_examples_warning").asText("");
    completedSteps = event.path("steps").asLong();
    if (event.has("total_steps")) totalSteps = event.get("total_steps").asLong();
    droppedEvents = event.path("dropped_events").asLong();
    finalLoss = event.path("final_loss").isNumber() ? (float) event.get("final_loss").asDouble() : Float.NaN;
    JsonNode metrics = event.path("metrics");
    finalValAccuracy = metrics.path("val_accuracy").isNumber() ? metrics.get("val_accuracy").asDouble() : Double.NaN;
    finalValLoss = metrics.path("val_loss").isNumber() ? metrics.get("val_loss").asDouble() : Double.NaN;
    long wallMs = event.path("wall_ms").asLong();
    long samples = event.path("samples").asLong();
    finalSamplesPerSec = wallMs > 0 ? samples * 1000.0 / wallMs : Double.NaN;
    RunCounters read = RunCounters.ZERO;
    JsonNode values = event.path("counters");
    for (RunCounter counter : RunCounter.values()) {
      if (values.path(counter.label()).canConvertToLong()) read = read.with(counter, values.get(counter.label()).asLong());
    }
    counters = read;
  }

  /** Takes rows {@code from} (inclusive) to {@code to} of {@code table}. */
  void rows(ScalarTable table, int from, int to) {
    for (int row = from; row < to; row++) {
      Shard shard = shards.computeIfAbsent(table.shard(row), i -> new Shard());
      if (table.split(row) == ScalarTable.TRAIN) {
        shard.step = Math.max(shard.step, table.step(row));
        shard.lastLoss = table.loss(row);
        shard.samplesPerSec = table.samplesPerSec(row);
        lastLoss = table.loss(row);
      } else {
        shard.valLoss = table.loss(row);
        shard.valAccuracy = table.accuracy(row);
      }
    }
  }

  /** True once {@code run_submitted} was read: the folder holds a run. */
  boolean submitted() {
    return submitted;
  }

  String trainer() {
    return trainer;
  }

  int alerts() {
    return alerts;
  }

  /** The last {@code alert} event, or null. */
  ObjectNode lastAlert() {
    return lastAlert;
  }

  /** The run's validation accuracy: the final mean when it ended with one, else the mean of the shards' last. */
  double valAccuracy() {
    if (!Double.isNaN(finalValAccuracy)) return finalValAccuracy;
    return shards.values().stream().filter(s -> !Float.isNaN(s.valAccuracy)).mapToDouble(s -> s.valAccuracy)
        .average().orElse(Double.NaN);
  }

  /** As {@link #valAccuracy}, for the validation loss. */
  double valLoss() {
    if (!Double.isNaN(finalValLoss)) return finalValLoss;
    return shards.values().stream().filter(s -> !Float.isNaN(s.valLoss)).mapToDouble(s -> s.valLoss)
        .average().orElse(Double.NaN);
  }

  /**
   * The run as a coordinator would report it, from what was fed.
   *
   * @param merges merge records in {@code hard_examples.jsonl}
   * @param lastMerge the last of them, for its hardest examples; null for none
   */
  RunStatus status(String runDir, int merges, ObjectNode lastMerge) {
    long steps = completedSteps >= 0 ? completedSteps : shards.values().stream().mapToLong(s -> s.step).sum();
    int count = Math.max(1, shards.size());
    List<RunStatus.ShardStatus> shardStatuses = new ArrayList<>();
    shards.forEach((index, s) -> shardStatuses.add(new RunStatus.ShardStatus(index, s.state, s.attempt, s.failures,
        s.workerId, s.step, totalSteps / count, s.checkpointStep, s.lastFailure, s.straggler, s.speculativeWorkerId)));
    double samplesPerSec = state.isFinal() ? finalSamplesPerSec
        : shards.values().stream().filter(s -> s.state == ShardState.RUNNING && !Float.isNaN(s.samplesPerSec))
            .mapToDouble(s -> s.samplesPerSec).sum();
    float loss = !Float.isNaN(finalLoss) && state.isFinal() ? finalLoss : lastLoss;
    return new RunStatus(runId, name, state, submittedMs, startedMs, finishedMs, steps, totalSteps, loss,
        Double.isNaN(samplesPerSec) ? 0 : samplesPerSec, droppedEvents, merges, reason, shardStatuses,
        List.copyOf(workers), runDir, hardest(lastMerge), counters, hardExamplesWarning);
  }

  private static List<HardExample> hardest(ObjectNode merge) {
    List<HardExample> out = new ArrayList<>();
    if (merge == null) return out;
    for (JsonNode entry : merge.path("entries")) {
      if (out.size() == 5) break;
      out.add(new HardExample(entry.path("sample_id").asLong(), (float) entry.path("loss").asDouble(),
          entry.path("worker_id").asText(""), entry.path("step").asLong(),
          entry.path("label").isNumber() ? entry.get("label").asInt() : HardExample.UNKNOWN,
          entry.path("predicted").isNumber() ? entry.get("predicted").asInt() : HardExample.UNKNOWN));
    }
    return out;
  }
}
