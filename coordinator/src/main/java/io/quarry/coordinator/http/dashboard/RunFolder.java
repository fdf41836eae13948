package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the dashboard knows of one run directory, read from its files as they grow — by the coordinator that writes
 * them, or by {@code quarry dashboard} in another process: the rows of {@code scalars.csv} ({@link ScalarTable}),
 * the events of {@code events.jsonl} but {@code step} (only counted: there is one a step, and the scalars hold them),
 * where each merge record of {@code hard_examples.jsonl} starts (records are read when asked for), the payload index
 * {@code hard_examples/payloads.jsonl}, and the run as its events tell it ({@link RunStatusFromEvents}). Each
 * {@link #refresh} reads only what was appended since the last one, and at most once per {@code minRefreshNs}, so
 * any number of pages following a run cost one reader. Thread-safe: everything happens under the folder's lock.
 */
final class RunFolder {
  /** The newest events kept in memory for the event log (the file has them all). */
  static final int MAX_EVENTS = 20_000;
  private static final byte[] STEP_PREFIX = "{\"type\":\"step\"".getBytes(StandardCharsets.US_ASCII);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int PARSED_MERGES = 16;
  /** Rows per series in one refresh's segment at most; past it they are thinned (min/max). */
  static final int LIVE_ROWS_PER_SERIES = 64;
  /** Rows kept as segments for the live streams; a stream further behind is sent its rows on its own. */
  private static final int SEGMENT_ROWS = 50_000;

  private final Path dir;
  private final String runId;
  private final long minRefreshNs;
  private final LineTail scalarsTail;
  private final LineTail eventsTail;
  private final LineTail mergesTail;
  private final LineTail payloadsTail;
  private ScalarTable scalars = new ScalarTable();
  private final ArrayDeque<ObjectNode> events = new ArrayDeque<>();
  private long eventsSeen;
  private long stepEvents;
  private final RunStatusFromEvents digest;
  private long[] mergeOffsets = new long[64];
  private int[] mergeLengths = new int[64];
  private int merges;
  private final Map<Long, ObjectNode> payloads = new HashMap<>();
  private final Map<Integer, ObjectNode> parsedMerges = new LinkedHashMap<>(PARSED_MERGES, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Integer, ObjectNode> eldest) {
      return size() > PARSED_MERGES;
    }
  };
  private String config;
  private Map<String, String> flatConfig;
  /** The rows each refresh added, newest last, as the live streams send them (serialized once, for every stream). */
  private final ArrayDeque<RowSegment> segments = new ArrayDeque<>();
  private int segmentRows;
  private long refreshedAtNs;
  private boolean refreshed;
  /** Grows whenever a refresh read anything: followers compare it to know whether to look closer. */
  private long version;

  /** What is read from a folder under its lock. */
  interface Reader<T> {
    T read(RunFolder folder) throws IOException;
  }

  RunFolder(Path dir, String runId, long minRefreshNs) {
    this.dir = dir;
    this.runId = runId;
    this.minRefreshNs = minRefreshNs;
    this.scalarsTail = new LineTail(dir.resolve("scalars.csv"));
    this.eventsTail = new LineTail(dir.resolve("events.jsonl"));
    this.mergesTail = new LineTail(dir.resolve("hard_examples.jsonl"));
    this.payloadsTail = new LineTail(dir.resolve("hard_examples").resolve("payloads.jsonl"));
    this.digest = new RunStatusFromEvents(runId);
  }

  Path dir() {
    return dir;
  }

  String runId() {
    return runId;
  }

  /** Runs {@code reader} on this folder under its lock, after a refresh (when the last is older than allowed). */
  synchronized <T> T read(long nowNs, Reader<T> reader) throws IOException {
    refresh(nowNs);
    return reader.read(this);
  }

  /** Reads what was appended to the run's files since the last refresh, unless that was under minRefreshNs ago. */
  synchronized void refresh(long nowNs) throws IOException {
    if (refreshed && nowNs - refreshedAtNs < minRefreshNs) return;
    refreshed = true;
    refreshedAtNs = nowNs;
    if (config == null) {
      try {
        config = Files.readString(dir.resolve("run.conf"), StandardCharsets.UTF_8);
        version++;
      } catch (NoSuchFileException e) {
        // Not written yet.
      }
    }
    int rowsBefore = scalars.size();
    if (!scalarsTail.read((bytes, start, end, offset) -> scalars.add(bytes, start, end))) {
      scalars = new ScalarTable();
      rowsBefore = 0;
      segments.clear();
      segmentRows = 0;
      scalarsTail.read((bytes, start, end, offset) -> scalars.add(bytes, start, end));
    }
    if (scalars.size() != rowsBefore) {
      digest.rows(scalars, rowsBefore, scalars.size());
      segment(rowsBefore, scalars.size());
      version++;
    }
    long seenBefore = eventsSeen + stepEvents;
    eventsTail.read(this::event);
    if (eventsSeen + stepEvents != seenBefore) version++;
    int mergesBefore = merges;
    mergesTail.read((bytes, start, end, offset) -> merge(offset, end - start));
    if (merges != mergesBefore) version++;
    int payloadsBefore = payloads.size();
    payloadsTail.read(this::payload);
    if (payloads.size() != payloadsBefore) version++;
  }

  /** One refresh's new rows, {@code [from, to)}; their JSON is made when a stream first asks for it. */
  private static final class RowSegment {
    final int from;
    final int to;
    String json;

    RowSegment(int from, int to) {
      this.from = from;
      this.to = to;
    }
  }

  private void segment(int from, int to) {
    segments.addLast(new RowSegment(from, to));
    segmentRows += to - from;
    while (segmentRows > SEGMENT_ROWS && segments.size() > 1) {
      RowSegment first = segments.removeFirst();
      segmentRows -= first.to - first.from;
    }
  }

  /**
   * The rows from {@code from} to the end as a JSON array of column chunks ({@link ScalarSeries#liveRows}), made of the
   * refreshes' segments, each serialized once for every stream; null when {@code from} is not where a segment starts
   * (the stream must be sent the rows on its own) or there are more than {@code max} rows.
   */
  String rowChunksFrom(int from, int max) {
    if (from >= scalars.size() || scalars.size() - from > max) return null;
    StringBuilder out = null;
    for (RowSegment segment : segments) {
      if (out == null) {
        if (segment.from != from) continue;
        out = new StringBuilder("[");
      } else {
        out.append(',');
      }
      if (segment.json == null) {
        try {
          segment.json = JSON.writeValueAsString(
              ScalarSeries.liveRows(scalars, segment.from, segment.to, LIVE_ROWS_PER_SERIES));
        } catch (IOException e) {
          throw new IllegalStateException("cannot render JSON", e);
        }
      }
      out.append(segment.json);
    }
    return out == null ? null : out.append(']').toString();
  }

  private void event(byte[] bytes, int start, int end, long offset) {
    if (startsWith(bytes, start, end, STEP_PREFIX)) {
      stepEvents++;
      return;
    }
    try {
      JsonNode node = JSON.readTree(bytes, start, end - start);
      if (!(node instanceof ObjectNode event)) return;
      eventsSeen++;
      digest.event(event);
      events.addLast(event);
      if (events.size() > MAX_EVENTS) events.removeFirst();
    } catch (IOException e) {
      // A line cut short by a writer that died: skipped, as RunDirectory.reopen would cut it.
    }
  }

  private void merge(long offset, int length) {
    if (merges == mergeOffsets.length) {
      mergeOffsets = Arrays.copyOf(mergeOffsets, merges * 2);
      mergeLengths = Arrays.copyOf(mergeLengths, merges * 2);
    }
    mergeOffsets[merges] = offset;
    mergeLengths[merges] = length;
    merges++;
  }

  private void payload(byte[] bytes, int start, int end, long offset) {
    try {
      JsonNode node = JSON.readTree(bytes, start, end - start);
      if (node instanceof ObjectNode line && line.path("sample_id").canConvertToLong()) {
        payloads.put(line.get("sample_id").asLong(), line);
      }
    } catch (IOException e) {
      // Skipped, as a cut line.
    }
  }

  private static boolean startsWith(byte[] bytes, int start, int end, byte[] prefix) {
    if (end - start < prefix.length) return false;
    for (int i = 0; i < prefix.length; i++) if (bytes[start + i] != prefix[i]) return false;
    return true;
  }

  // --- what was read (call inside read) ---

  long version() {
    return version;
  }

  ScalarTable scalars() {
    return scalars;
  }

  /** The run's resolved config ({@code run.conf}), or null before it is written. */
  String config() {
    return config;
  }

  /**
   * The run's config as {@code key -> value} (HOCON rendered concisely: {@code 0.01}, {@code "adam"}, {@code [16,32]}),
   * in key order; empty before {@code run.conf} is written or when it does not parse.
   */
  Map<String, String> flatConfig() {
    if (flatConfig != null) return flatConfig;
    if (config == null) return Map.of();
    Map<String, String> flat = new java.util.TreeMap<>();
    try {
      for (Map.Entry<String, com.typesafe.config.ConfigValue> entry
          : com.typesafe.config.ConfigFactory.parseString(config).entrySet()) {
        flat.put(entry.getKey(), entry.getValue().render(com.typesafe.config.ConfigRenderOptions.concise()));
      }
    } catch (com.typesafe.config.ConfigException e) {
      // Shown as the text it is; nothing to compare.
    }
    flatConfig = java.util.Collections.unmodifiableMap(flat);
    return flatConfig;
  }

  /** Events but {@code step}, counted from 0 in the order written. */
  long eventCount() {
    return eventsSeen;
  }

  /** The events numbered {@code from} (inclusive) on that are still in memory, oldest first. */
  List<ObjectNode> eventsFrom(long from) {
    long first = eventsSeen - events.size();
    List<ObjectNode> out = new ArrayList<>();
    long index = first;
    for (ObjectNode event : events) {
      if (index++ >= from) out.add(event);
    }
    return out;
  }

  long stepEvents() {
    return stepEvents;
  }

  RunStatusFromEvents digest() {
    return digest;
  }

  int mergeCount() {
    return merges;
  }

  /** Merge record {@code index} (0 = the first line), read from the file; null when there is no such line. */
  ObjectNode merge(int index) throws IOException {
    if (index < 0 || index >= merges) return null;
    ObjectNode cached = parsedMerges.get(index);
    if (cached != null) return cached;
    byte[] line = LineTail.readAt(dir.resolve("hard_examples.jsonl"), mergeOffsets[index], mergeLengths[index]);
    JsonNode node = JSON.readTree(line);
    if (!(node instanceof ObjectNode record)) return null;
    parsedMerges.put(index, record);
    return record;
  }

  /**
   * Merge record {@code index} when its line contains {@code needle} (a sample's {@code "sample_id":N,}); else null,
   * without parsing it: a sample's history looks through every merge.
   */
  ObjectNode mergeIfContains(int index, String needle) throws IOException {
    if (index < 0 || index >= merges) return null;
    ObjectNode cached = parsedMerges.get(index);
    if (cached != null) return cached;
    byte[] line = LineTail.readAt(dir.resolve("hard_examples.jsonl"), mergeOffsets[index], mergeLengths[index]);
    if (!new String(line, StandardCharsets.UTF_8).contains(needle)) return null;
    JsonNode node = JSON.readTree(line);
    return node instanceof ObjectNode record ? record : null;
  }

  /** The payload line of {@code sampleId} ({@code file} or {@code features}), or null. */
  ObjectNode payload(long sampleId) {
    return payloads.get(sampleId);
  }

  int payloadCount() {
    return payloads.size();
  }
}
