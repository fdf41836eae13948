package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A run's scalars as chart series, downsampled on the server: rows grouped by shard, by worker or into one series for
 * the whole run (the mean over shards at each step), train and validation apart, each cut to at most {@code points}
 * points by {@link Downsample#lttb} on its loss (the other columns are taken at the points kept). Also the raw rows
 * appended since a cursor, as a live stream sends them.
 */
final class ScalarSeries {
  /** How rows are grouped into series. */
  enum By {
    SHARD,
    WORKER,
    RUN;

    static By parse(String value) {
      if (value == null || value.isBlank()) return SHARD;
      return switch (value.toLowerCase(Locale.ROOT)) {
        case "shard" -> SHARD;
        case "worker" -> WORKER;
        case "run" -> RUN;
        default -> throw new IllegalArgumentException(
            "parameter 'by': invalid value " + value + "; allowed: shard, worker, run");
      };
    }
  }

  static final int MAX_POINTS = 20_000;

  private ScalarSeries() {}

  /** {@code {"rows": N, "series": [{"key", "split", "x", "t", "loss", "lr", "sps" | "acc"}]}}. */
  static ObjectNode series(ScalarTable table, By by, int points) {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    out.put("rows", table.size());
    out.put("by", by.name().toLowerCase(Locale.ROOT));
    ArrayNode series = out.putArray("series");
    Map<String, List<Integer>> groups = new LinkedHashMap<>();
    for (int row = 0; row < table.size(); row++) {
      String key = switch (by) {
        case SHARD -> "shard " + table.shard(row);
        case WORKER -> table.workerName(table.worker(row));
        case RUN -> "run";
      };
      String split = table.split(row) == ScalarTable.TRAIN ? "train" : "val";
      groups.computeIfAbsent(split + "\u0000" + key, k -> new ArrayList<>()).add(row);
    }
    List<String> keys = new ArrayList<>(groups.keySet());
    keys.sort(ScalarSeries::naturalOrder);
    for (String group : keys) {
      int split = group.indexOf('\u0000');
      boolean train = group.startsWith("train");
      List<Integer> rows = groups.get(group);
      ObjectNode node = by == By.RUN ? meanByStep(table, rows, train, points) : downsampled(table, rows, train, points);
      node.put("key", group.substring(split + 1));
      node.put("split", train ? "train" : "val");
      series.add(node);
    }
    return out;
  }

  /** Orders "train\0shard 10" after "train\0shard 9". */
  private static int naturalOrder(String a, String b) {
    int digitsA = trailingDigits(a);
    int digitsB = trailingDigits(b);
    if (digitsA > 0 && digitsB > 0 && a.substring(0, a.length() - digitsA).equals(b.substring(0, b.length() - digitsB))) {
      return Long.compare(Long.parseLong(a.substring(a.length() - digitsA)), Long.parseLong(b.substring(b.length() - digitsB)));
    }
    return a.compareTo(b);
  }

  private static int trailingDigits(String s) {
    int n = 0;
    while (n < s.length() && n < 18 && Character.isDigit(s.charAt(s.length() - 1 - n))) n++;
    return n;
  }

  private static ObjectNode downsampled(ScalarTable table, List<Integer> rows, boolean train, int points) {
    int n = rows.size();
    double[] x = new double[n];
    double[] y = new double[n];
    // Rows of one shard arrive in step order, but a retried attempt starts again from its checkpoint: sort by step.
    List<Integer> ordered = new ArrayList<>(rows);
    ordered.sort((a, b) -> Long.compare(table.step(a), table.step(b)));
    for (int i = 0; i < n; i++) {
      x[i] = table.step(ordered.get(i));
      y[i] = table.loss(ordered.get(i));
    }
    int[] keep = Downsample.lttb(x, y, n, points);
    ObjectNode node = JsonNodeFactory.instance.objectNode();
    ArrayNode xs = node.putArray("x");
    ArrayNode ts = node.putArray("t");
    ArrayNode loss = node.putArray("loss");
    ArrayNode second = node.putArray(train ? "lr" : "acc");
    ArrayNode sps = train ? node.putArray("sps") : null;
    for (int k : keep) {
      int row = ordered.get(k);
      xs.add(table.step(row));
      ts.add(table.tsMs(row));
      number(loss, table.loss(row));
      number(second, train ? table.lr(row) : table.accuracy(row));
      if (sps != null) number(sps, table.samplesPerSec(row));
    }
    node.put("points", n);
    return node;
  }

  /** One series for the run: at each step, the mean of the shards' values there (the latest time as its time). */
  private static ObjectNode meanByStep(ScalarTable table, List<Integer> rows, boolean train, int points) {
    TreeMap<Long, double[]> bySteps = new TreeMap<>();
    for (int row : rows) {
      double[] sums = bySteps.computeIfAbsent(table.step(row), s -> new double[8]);
      add(sums, 0, table.loss(row));
      add(sums, 2, train ? table.lr(row) : table.accuracy(row));
      add(sums, 4, table.samplesPerSec(row));
      sums[6] = Math.max(sums[6], table.tsMs(row));
    }
    int n = bySteps.size();
    double[] x = new double[n];
    double[] loss = new double[n];
    double[] second = new double[n];
    double[] sps = new double[n];
    double[] ts = new double[n];
    int i = 0;
    for (Map.Entry<Long, double[]> entry : bySteps.entrySet()) {
      double[] s = entry.getValue();
      x[i] = entry.getKey();
      loss[i] = s[1] > 0 ? s[0] / s[1] : Double.NaN;
      second[i] = s[3] > 0 ? s[2] / s[3] : Double.NaN;
      sps[i] = s[5] > 0 ? s[4] : Double.NaN;
      ts[i] = s[6];
      i++;
    }
    int[] keep = Downsample.lttb(x, loss, n, points);
    ObjectNode node = JsonNodeFactory.instance.objectNode();
    ArrayNode xs = node.putArray("x");
    ArrayNode tsOut = node.putArray("t");
    ArrayNode lossOut = node.putArray("loss");
    ArrayNode secondOut = node.putArray(train ? "lr" : "acc");
    ArrayNode spsOut = train ? node.putArray("sps") : null;
    for (int k : keep) {
      xs.add((long) x[k]);
      tsOut.add((long) ts[k]);
      number(lossOut, loss[k]);
      number(secondOut, second[k]);
      if (spsOut != null) number(spsOut, sps[k]);
    }
    node.put("points", n);
    return node;
  }

  private static void add(double[] sums, int at, double value) {
    if (Double.isFinite(value)) {
      sums[at] += value;
      sums[at + 1]++;
    }
  }

  /**
   * Rows {@code from} to {@code to} for a live page, thinned when a series (a shard's train or validation rows) has
   * more than {@code perSeries} of them: min/max downsampling — of each of {@code perSeries / 2} buckets of its rows,
   * the rows with the lowest and the highest loss — so that a fast run's spikes still reach the page, while a page
   * never receives more than it can draw (it shows a few thousand points per series, downsampled, however many rows
   * the run writes). Columns as {@link #columns}, with {@code "from"}, {@code "to"} and {@code "thinned"}: rows left out.
   */
  static ObjectNode liveRows(ScalarTable table, int from, int to, int perSeries) {
    Map<Long, List<Integer>> bySeries = new LinkedHashMap<>();
    for (int row = from; row < to; row++) {
      bySeries.computeIfAbsent(((long) table.shard(row) << 1) | table.split(row), key -> new ArrayList<>()).add(row);
    }
    int[] keep = new int[to - from];
    int kept = 0;
    for (List<Integer> rows : bySeries.values()) {
      if (rows.size() <= perSeries) {
        for (int row : rows) keep[kept++] = row;
        continue;
      }
      int buckets = Math.max(1, perSeries / 2);
      for (int bucket = 0; bucket < buckets; bucket++) {
        int start = (int) ((long) bucket * rows.size() / buckets);
        int end = (int) ((long) (bucket + 1) * rows.size() / buckets);
        int low = -1;
        int high = -1;
        for (int i = start; i < end; i++) {
          int row = rows.get(i);
          float loss = table.loss(row);
          if (Float.isNaN(loss)) {
            if (low < 0) low = row;
            continue;
          }
          if (low < 0 || Float.isNaN(table.loss(low)) || loss < table.loss(low)) low = row;
          if (high < 0 || loss > table.loss(high)) high = row;
        }
        if (low >= 0) keep[kept++] = low;
        if (high >= 0 && high != low) keep[kept++] = high;
      }
    }
    int[] rows = Arrays.copyOf(keep, kept);
    Arrays.sort(rows);
    ObjectNode out = columns(table, rows);
    out.put("from", from);
    out.put("to", to);
    out.put("thinned", (to - from) - kept);
    return out;
  }

  /**
   * The given rows, column by column: {@code {"step", "epoch", "worker", "shard", "split", "loss", "lr", "sps", "acc",
   * "t"}}.
   */
  private static ObjectNode columns(ScalarTable table, int[] rows) {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    ArrayNode step = out.putArray("step");
    ArrayNode epoch = out.putArray("epoch");
    ArrayNode worker = out.putArray("worker");
    ArrayNode shard = out.putArray("shard");
    ArrayNode split = out.putArray("split");
    ArrayNode loss = out.putArray("loss");
    ArrayNode lr = out.putArray("lr");
    ArrayNode sps = out.putArray("sps");
    ArrayNode acc = out.putArray("acc");
    ArrayNode t = out.putArray("t");
    for (int row : rows) {
      step.add(table.step(row));
      epoch.add(table.epoch(row));
      worker.add(table.workerName(table.worker(row)));
      shard.add(table.shard(row));
      split.add(table.split(row) == ScalarTable.TRAIN ? "train" : "val");
      number(loss, table.loss(row));
      number(lr, table.lr(row));
      number(sps, table.samplesPerSec(row));
      number(acc, table.accuracy(row));
      t.add(table.tsMs(row));
    }
    return out;
  }

  private static void number(ArrayNode array, double value) {
    if (Double.isFinite(value)) array.add((float) value);
    else array.addNull();
  }
}
