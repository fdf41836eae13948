package io.quarry.worker.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * The {@code manifest.json} format. Read through a tree rather than data binding so that every problem is
 * reported by field name, and so that a {@code NaN} val loss is written as standard JSON ({@code null}).
 */
final class ManifestJson {
  /** Bumped when the format changes incompatibly; a reader refuses formats it does not know. */
  static final int FORMAT = 1;

  private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ManifestJson() {}

  static byte[] write(CheckpointManifest manifest) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("format", FORMAT);
    root.put("step", manifest.step());
    root.put("epoch", manifest.epoch());
    root.put("cursor", manifest.cursor());
    root.put("rng_state", manifest.rngState());
    if (manifest.hasValLoss()) root.put("val_loss", manifest.valLoss());
    else root.putNull("val_loss");
    root.put("trainer", manifest.trainer());
    root.put("created_unix_ms", manifest.createdUnixMs());
    ObjectNode extra = root.putObject("extra");
    new TreeMap<>(manifest.extra()).forEach(extra::put);
    try {
      return MAPPER.writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot render checkpoint manifest " + manifest, e);
    }
  }

  static CheckpointManifest read(byte[] bytes, Path file) {
    JsonNode root;
    try {
      root = MAPPER.readTree(bytes);
    } catch (JsonProcessingException e) {
      throw new CheckpointException("checkpoint manifest " + file + " is not valid JSON (truncated or corrupt?): "
          + e.getOriginalMessage(), e);
    } catch (java.io.IOException e) {
      throw new CheckpointException("cannot parse checkpoint manifest " + file + ": " + e.getMessage(), e);
    }
    if (root == null || root.isMissingNode() || !root.isObject()) {
      boolean empty = root == null || root.isMissingNode();
      throw new CheckpointException("checkpoint manifest " + file + " is " + (empty ? "empty" : "not a JSON object")
          + " (truncated or corrupt?)");
    }
    int format = (int) integral(root, "format", file);
    if (format != FORMAT) {
      throw new CheckpointException("checkpoint manifest " + file + " has format " + format + "; this build reads format "
          + FORMAT);
    }
    long step = nonNegative(root, "step", file);
    long epoch = nonNegative(root, "epoch", file);
    if (epoch > Integer.MAX_VALUE) throw invalid(file, "epoch", "is larger than " + Integer.MAX_VALUE);
    long cursor = nonNegative(root, "cursor", file);
    long rngState = integral(root, "rng_state", file);
    double valLoss = valLoss(root, file);
    JsonNode trainer = required(root, "trainer", file);
    if (!trainer.isTextual() || trainer.asText().isBlank()) throw invalid(file, "trainer", "must be a non-empty string");
    long createdUnixMs = integral(root, "created_unix_ms", file);
    Map<String, String> extra = extra(root, file);
    return new CheckpointManifest(step, (int) epoch, cursor, rngState, valLoss, trainer.asText(), createdUnixMs, extra);
  }

  private static JsonNode required(JsonNode root, String field, Path file) {
    JsonNode node = root.get(field);
    if (node == null) throw new CheckpointException("checkpoint manifest " + file + " has no field '" + field + "'");
    return node;
  }

  private static long integral(JsonNode root, String field, Path file) {
    JsonNode node = required(root, field, file);
    if (!node.isIntegralNumber() || !node.canConvertToLong()) throw invalid(file, field, "must be a 64-bit integer");
    return node.asLong();
  }

  private static long nonNegative(JsonNode root, String field, Path file) {
    long value = integral(root, field, file);
    if (value < 0) throw invalid(file, field, "must be >= 0");
    return value;
  }

  private static double valLoss(JsonNode root, Path file) {
    JsonNode node = required(root, "val_loss", file);
    if (node.isNull()) return Double.NaN;
    if (!node.isNumber()) throw invalid(file, "val_loss", "must be a number or null");
    return node.asDouble();
  }

  private static Map<String, String> extra(JsonNode root, Path file) {
    JsonNode node = root.get("extra");
    if (node == null || node.isNull()) return Map.of();
    if (!node.isObject()) throw invalid(file, "extra", "must be an object of strings");
    Map<String, String> extra = new HashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> entry = it.next();
      if (!entry.getValue().isTextual()) throw invalid(file, "extra." + entry.getKey(), "must be a string");
      extra.put(entry.getKey(), entry.getValue().asText());
    }
    return extra;
  }

  private static CheckpointException invalid(Path file, String field, String what) {
    return new CheckpointException("checkpoint manifest " + file + ": field '" + field + "' " + what);
  }
}
