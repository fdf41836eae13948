package io.quarry.coordinator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.protocol.CoordinatorCommand.WorkerInfo;
import io.quarry.protocol.RunStatus;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;

/**
 * The API's JSON: snake_case field names, enums in lower case, instants both as ISO-8601 UTC and as unix
 * milliseconds ({@code null} before they happen), and {@code null} for a number that is not one (a loss of NaN).
 */
public final class ApiJson {
  public static final ObjectMapper MAPPER = new ObjectMapper();

  private ApiJson() {}

  public static ObjectNode object() {
    return MAPPER.createObjectNode();
  }

  /** A response with {@code body} as JSON. */
  public static HttpResponse response(StatusCode status, ObjectNode body) {
    try {
      return HttpResponse.create()
          .withStatus(status)
          .withEntity(ContentTypes.APPLICATION_JSON, MAPPER.writeValueAsBytes(body));
    } catch (JsonProcessingException e) {
      // A tree of plain nodes always serializes; reaching this is a bug.
      throw new IllegalStateException("cannot render JSON", e);
    }
  }

  /** {@code {"error": message}} with {@code status}. */
  public static HttpResponse error(StatusCode status, String message) {
    ObjectNode body = object();
    body.put("error", message);
    return response(status, body);
  }

  public static ObjectNode run(RunStatus run) {
    ObjectNode node = object();
    node.put("run_id", run.runId());
    node.put("name", run.name());
    node.put("state", lower(run.state()));
    instant(node, "submitted", run.submittedUnixMs());
    instant(node, "started", run.startedUnixMs());
    instant(node, "finished", run.finishedUnixMs());
    node.put("steps", run.steps());
    node.put("total_steps", run.totalSteps());
    node.put("progress", run.totalSteps() > 0 ? Math.min(1.0, (double) run.steps() / run.totalSteps()) : 0.0);
    number(node, "last_loss", run.lastLoss());
    number(node, "samples_per_s", run.samplesPerSec());
    node.put("dropped_events", run.droppedEvents());
    node.put("merges", run.merges());
    ObjectNode counters = node.putObject("counters");
    if (run.counters() != null) run.counters().byLabel().forEach(counters::put);
    text(node, "reason", run.reason());
    ArrayNode shards = node.putArray("shards");
    for (RunStatus.ShardStatus shard : run.shards()) shards.add(shard(shard));
    ArrayNode workers = node.putArray("workers");
    run.workers().forEach(workers::add);
    node.put("run_dir", run.runDir());
    ArrayNode hardest = node.putArray("hardest");
    for (io.quarry.protocol.HardExample example : run.hardest()) {
      ObjectNode entry = hardest.addObject();
      entry.put("sample_id", example.sampleId());
      entry.put("loss", example.loss());
      entry.put("worker_id", example.workerId());
      entry.put("step", example.step());
      label(entry, "label", example.label());
      label(entry, "predicted", example.predicted());
    }
    text(node, "hard_examples_warning", run.hardExamplesWarning());
    return node;
  }

  public static ObjectNode runs(List<RunStatus> runs) {
    ObjectNode node = object();
    ArrayNode array = node.putArray("runs");
    for (RunStatus run : runs) array.add(run(run));
    return node;
  }

  public static ObjectNode shard(RunStatus.ShardStatus shard) {
    ObjectNode node = object();
    node.put("shard", shard.shard());
    node.put("state", lower(shard.state()));
    node.put("attempt", shard.attempt());
    node.put("failures", shard.failures());
    node.put("worker_id", shard.workerId());
    node.put("step", shard.step());
    node.put("total_steps", shard.totalSteps());
    node.put("checkpoint_step", shard.checkpointStep());
    text(node, "last_failure", shard.lastFailure());
    node.put("straggler", shard.straggler());
    text(node, "speculative_worker_id", shard.speculativeWorkerId());
    return node;
  }

  public static ObjectNode workers(List<WorkerInfo> workers) {
    ObjectNode node = object();
    ArrayNode array = node.putArray("workers");
    for (WorkerInfo worker : workers) {
      ObjectNode entry = array.addObject();
      entry.put("worker_id", worker.workerId());
      entry.put("device", worker.device());
      entry.put("state", lower(worker.state()));
      entry.put("run_id", worker.runId());
    }
    return node;
  }

  /** {@code name} (ISO-8601 UTC) and {@code name_unix_ms}; both {@code null} for 0 (it has not happened yet). */
  private static void instant(ObjectNode node, String name, long unixMs) {
    if (unixMs > 0) {
      node.put(name, Instant.ofEpochMilli(unixMs).toString());
      node.put(name + "_unix_ms", unixMs);
    } else {
      node.putNull(name);
      node.putNull(name + "_unix_ms");
    }
  }

  private static void number(ObjectNode node, String name, float value) {
    if (Float.isFinite(value)) node.put(name, value);
    else node.putNull(name);
  }

  private static void number(ObjectNode node, String name, double value) {
    if (Double.isFinite(value)) node.put(name, value);
    else node.putNull(name);
  }

  /** A class index, {@code null} when unknown ({@link io.quarry.protocol.HardExample#UNKNOWN}). */
  private static void label(ObjectNode node, String name, int value) {
    if (value == io.quarry.protocol.HardExample.UNKNOWN) node.putNull(name);
    else node.put(name, value);
  }

  private static void text(ObjectNode node, String name, String value) {
    if (value == null || value.isEmpty()) node.putNull(name);
    else node.put(name, value);
  }

  private static String lower(Enum<?> value) {
    return value == null ? null : value.name().toLowerCase(Locale.ROOT);
  }
}
