package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;

/**
 * The hard-example explorer's data, from a run's merge records and payload index: one merge with its entries (each
 * with its thumbnail's file or its leading features, when the trainer rendered one), the merge's counts per class and
 * per worker; and one sample's history, its loss at each merge it was in.
 */
final class HardExamplesView {
  private HardExamplesView() {}

  /**
   * Merge {@code index} (when negative, the last with entries): {@code {"merges": N, "merge": {record, entries with "file" or
   * "features"}, "classes": {label: count}, "workers": {worker: count}, "payloads": M}}; {@code "merge": null} when
   * the run has no merge yet.
   */
  static ObjectNode merge(RunFolder folder, int index) throws IOException {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    int count = folder.mergeCount();
    out.put("merges", count);
    out.put("payloads", folder.payloadCount());
    int chosen = index < 0 || index >= count ? lastWithEntries(folder) : index;
    ObjectNode record = folder.merge(chosen);
    if (record == null) {
      out.putNull("merge");
      out.putObject("classes");
      out.putObject("workers");
      return out;
    }
    ObjectNode merge = record.deepCopy();
    merge.put("index", chosen);
    Map<String, Integer> classes = new TreeMap<>(HardExamplesView::byNumber);
    Map<String, Integer> workers = new TreeMap<>();
    for (JsonNode node : merge.path("entries")) {
      ObjectNode entry = (ObjectNode) node;
      String label = entry.path("label").isNumber() ? entry.get("label").asText() : "unknown";
      classes.merge(label, 1, Integer::sum);
      workers.merge(entry.path("worker_id").asText(""), 1, Integer::sum);
      withPayload(folder, entry);
    }
    out.set("merge", merge);
    ObjectNode classCounts = out.putObject("classes");
    classes.forEach(classCounts::put);
    ObjectNode workerCounts = out.putObject("workers");
    workers.forEach(workerCounts::put);
    return out;
  }

  /**
   * The last merge that had entries (a merge right after another may have none: each window starts empty), else the
   * last merge; -1 for none. The summary's hardest examples are chosen the same way.
   */
  static int lastWithEntries(RunFolder folder) throws IOException {
    for (int i = folder.mergeCount() - 1; i >= 0; i--) {
      if (folder.mergeIfContains(i, "\"sample_id\":") != null) return i;
    }
    return folder.mergeCount() - 1;
  }

  /** {@code {"sample_id", "label", "file" | "features", "history": [{"merge", "ts", "loss", "rank", "worker_id", "step", "predicted"}]}}. */
  static ObjectNode history(RunFolder folder, long sampleId) throws IOException {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    out.put("sample_id", sampleId);
    ArrayNode history = out.putArray("history");
    String needle = "\"sample_id\":" + sampleId + ",";
    for (int i = 0; i < folder.mergeCount(); i++) {
      ObjectNode record = folder.mergeIfContains(i, needle);
      if (record == null) continue;
      int rank = 0;
      for (JsonNode entry : record.path("entries")) {
        rank++;
        if (entry.path("sample_id").asLong() != sampleId) continue;
        ObjectNode point = history.addObject();
        point.put("merge", record.path("merge").asInt(i));
        point.set("ts", record.path("ts"));
        point.set("loss", entry.path("loss"));
        point.put("rank", rank);
        point.set("worker_id", entry.path("worker_id"));
        point.set("step", entry.path("step"));
        point.set("label", entry.path("label"));
        point.set("predicted", entry.path("predicted"));
        break;
      }
    }
    ObjectNode payload = folder.payload(sampleId);
    if (payload != null) {
      if (payload.has("file")) out.set("file", payload.get("file"));
      if (payload.has("features")) out.set("features", payload.get("features"));
      out.set("label", payload.path("label"));
    }
    return out;
  }

  /** Adds the sample's payload ({@code file} or {@code features}) to a merge entry. */
  static void withPayload(RunFolder folder, ObjectNode entry) {
    ObjectNode payload = folder.payload(entry.path("sample_id").asLong());
    if (payload == null) return;
    if (payload.hasNonNull("file")) entry.set("file", payload.get("file"));
    if (payload.has("features")) entry.set("features", payload.get("features"));
  }

  private static int byNumber(String a, String b) {
    boolean numberA = a.chars().allMatch(Character::isDigit);
    boolean numberB = b.chars().allMatch(Character::isDigit);
    if (numberA && numberB) return Long.compare(Long.parseLong(a), Long.parseLong(b));
    return numberA ? -1 : numberB ? 1 : a.compareTo(b);
  }
}
