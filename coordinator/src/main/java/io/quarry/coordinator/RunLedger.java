package io.quarry.coordinator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStoreException;
import io.quarry.coordinator.store.ShardRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;

/**
 * A run actor's writes to the run store: the run and its shards as records, written on every lifecycle
 * transition, and the running totals a recovered run continues from. A failing store is logged, never fatal:
 * the run directory still records everything, and the next transition writes the whole state again.
 */
final class RunLedger {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * The totals kept beside the run record (as its metrics JSON), so a recovered run does not count twice, and the
   * final validation loss and accuracy of every shard completed so far (by shard), so a recovered run still reports
   * them in {@code run_completed.metrics}.
   */
  record Totals(long stepsTrained, long samplesTrained, long droppedEvents, int merges, float lastLoss, long stepsRedone,
      Map<Integer, ShardMetrics> shardMetrics) {
    static final Totals ZERO = new Totals(0, 0, 0, 0, Float.NaN, 0, Map.of());

    Totals {
      shardMetrics = Map.copyOf(shardMetrics);
    }

    String toJson() {
      ObjectNode node = JSON.createObjectNode();
      node.put("steps_trained", stepsTrained);
      node.put("samples", samplesTrained);
      node.put("dropped_events", droppedEvents);
      node.put("merges", merges);
      if (Float.isNaN(lastLoss)) node.putNull("final_loss");
      else node.put("final_loss", lastLoss);
      node.put("steps_redone", stepsRedone);
      ObjectNode shards = node.putObject("shard_metrics");
      new TreeMap<>(shardMetrics).forEach((shard, m) -> {
        ObjectNode entry = shards.putObject(Integer.toString(shard));
        putFloat(entry, "val_loss", m.valLoss());
        putFloat(entry, "val_accuracy", m.valAccuracy());
      });
      return node.toString();
    }

    static Totals fromJson(String json) {
      if (json == null || json.isBlank()) return ZERO;
      try {
        JsonNode node = JSON.readTree(json);
        JsonNode loss = node.path("final_loss");
        Map<Integer, ShardMetrics> shardMetrics = new TreeMap<>();
        node.path("shard_metrics").fields().forEachRemaining(e -> shardMetrics.put(Integer.parseInt(e.getKey()),
            new ShardMetrics(readFloat(e.getValue().path("val_loss")), readFloat(e.getValue().path("val_accuracy")))));
        return new Totals(node.path("steps_trained").asLong(), node.path("samples").asLong(),
            node.path("dropped_events").asLong(), node.path("merges").asInt(), readFloat(loss),
            node.path("steps_redone").asLong(), shardMetrics);
      } catch (java.io.IOException | NumberFormatException e) {
        throw new RunStoreException("stored metrics are not Quarry's totals JSON: " + json, e);
      }
    }

    private static void putFloat(ObjectNode node, String field, float value) {
      if (Float.isNaN(value)) node.putNull(field);
      else node.put(field, value);
    }

    private static float readFloat(JsonNode value) {
      return value.isNumber() ? (float) value.asDouble() : Float.NaN;
    }
  }

  /** A completed shard's final evaluation. */
  record ShardMetrics(float valLoss, float valAccuracy) {}

  private final RunStore store;
  private final String runId;
  private final Logger log;

  RunLedger(RunStore store, String runId, Logger log) {
    this.store = store;
    this.runId = runId;
    this.log = log;
  }

  void run(RunRecord record) {
    try {
      store.updateRun(record);
    } catch (RuntimeException e) {
      log.error("run {}: cannot record the run in the store: {}", runId, e.getMessage());
    }
  }

  void shard(ShardTable.Shard shard) {
    try {
      store.upsertShard(record(runId, shard));
    } catch (RuntimeException e) {
      log.error("run {}: cannot record shard {} in the store: {}", runId, shard.index, e.getMessage());
    }
  }

  void shards(ShardTable table, List<Integer> indices) {
    List<ShardRecord> records = new ArrayList<>();
    for (int index : indices) records.add(record(runId, table.shard(index)));
    try {
      if (!records.isEmpty()) store.upsertShards(records);
    } catch (RuntimeException e) {
      log.error("run {}: cannot record shards {} in the store: {}", runId, indices, e.getMessage());
    }
  }

  static ShardRecord record(String runId, ShardTable.Shard shard) {
    return new ShardRecord(runId, shard.index, shard.firstSample, shard.sampleCount, shard.state(), shard.attempt(),
        shard.failures(), shard.workerId(), shard.lastCheckpoint(), shard.checkpointStep());
  }

  static List<ShardRecord> records(String runId, ShardTable table) {
    List<ShardRecord> records = new ArrayList<>();
    for (ShardTable.Shard shard : table.shards()) records.add(record(runId, shard));
    return records;
  }
}
