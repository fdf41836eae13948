package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How one run ended, as a sweep summary row needs it: status, steps, wall time, the final loss (run_completed's
 * {@code final_loss}) and the validation accuracy of the last {@code eval} event in {@code events.jsonl}.
 */
record RunResult(String runId, String status, long steps, long wallMs, Double finalLoss, Double valAccuracy,
    String reason, String runDir, JsonNode completed) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** run_completed's mean final validation loss of the shards' models, or null. */
  Double valLoss() {
    JsonNode loss = completed == null ? null : completed.path("metrics").path("val_loss");
    return loss != null && loss.isNumber() ? loss.asDouble() : null;
  }

  boolean isCompleted() {
    return "completed".equals(status);
  }

  /** Reads {@code runDir/events.jsonl}; returns {@code null} when it cannot be read or holds no run_completed. */
  static RunResult fromRunDir(String runId, Path runDir) {
    Path events = runDir.resolve("events.jsonl");
    if (!Files.isReadable(events)) return null;
    JsonNode completed = null;
    Double valAccuracy = null;
    try (BufferedReader reader = Files.newBufferedReader(events, StandardCharsets.UTF_8)) {
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        boolean eval = line.contains("\"type\":\"eval\"");
        boolean end = line.contains("\"type\":\"run_completed\"");
        if (!eval && !end) continue;
        JsonNode node = JSON.readTree(line);
        if (eval && node.path("val_accuracy").isNumber()) valAccuracy = node.get("val_accuracy").asDouble();
        if (end) completed = node;
      }
    } catch (IOException e) {
      return null;
    }
    if (completed == null) return null;
    JsonNode loss = completed.path("final_loss");
    // run_completed's metrics (written in fast mode too) over the last eval event
    JsonNode metrics = completed.path("metrics").path("val_accuracy");
    if (metrics.isNumber()) valAccuracy = metrics.asDouble();
    return new RunResult(runId, completed.path("status").asText(), completed.path("steps").asLong(),
        completed.path("wall_ms").asLong(), loss.isNumber() ? loss.asDouble() : null, valAccuracy,
        completed.path("reason").asText(""), runDir.toString(), completed);
  }
}
