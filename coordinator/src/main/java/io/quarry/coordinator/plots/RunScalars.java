package io.quarry.coordinator.plots;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A run's {@code scalars.csv} as series, per shard: training loss, learning rate and samples/s by step (and
 * samples/s by time), validation loss and accuracy by step. Read from the file alone, so old run directories plot
 * too; a row that does not parse is skipped (a line cut short by a dying coordinator).
 */
final class RunScalars {
  /** One value at a step (or at a time, in seconds from the run's first row). */
  record Point(double x, double y) {}

  /** What one shard logged. */
  static final class Shard {
    final List<Point> loss = new ArrayList<>();
    final List<Point> lr = new ArrayList<>();
    final List<Point> samplesPerSec = new ArrayList<>();
    /** Samples/s against the seconds since the run's first row. */
    final List<Point> samplesPerSecByTime = new ArrayList<>();
    final List<Point> valLoss = new ArrayList<>();
    final List<Point> valAccuracy = new ArrayList<>();
  }

  /** By shard index. */
  final Map<Integer, Shard> shards = new TreeMap<>();

  private RunScalars() {}

  /** {@code runDir/scalars.csv}; empty when there is none (a run in fast mode writes no rows). */
  static RunScalars read(Path runDir) throws IOException {
    RunScalars scalars = new RunScalars();
    Path file = runDir.resolve("scalars.csv");
    if (!Files.isRegularFile(file)) return scalars;
    long firstNs = Long.MIN_VALUE;
    try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        // step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns (a worker id has no comma, but
        // read the last seven columns from the end all the same)
        String[] cells = line.split(",", -1);
        if (cells.length < 10 || cells[0].equals("step")) continue;
        int n = cells.length;
        try {
          double step = Long.parseLong(cells[0]);
          int shardIndex = Integer.parseInt(cells[n - 7]);
          String split = cells[n - 6];
          long ts = Long.parseLong(cells[n - 1]);
          if (firstNs == Long.MIN_VALUE) firstNs = ts;
          Shard shard = scalars.shards.computeIfAbsent(shardIndex, s -> new Shard());
          if (split.equals("train")) {
            add(shard.loss, step, cells[n - 5]);
            add(shard.lr, step, cells[n - 4]);
            add(shard.samplesPerSec, step, cells[n - 3]);
            add(shard.samplesPerSecByTime, (ts - firstNs) / 1e9, cells[n - 3]);
          } else if (split.equals("val")) {
            add(shard.valLoss, step, cells[n - 5]);
            add(shard.valAccuracy, step, cells[n - 2]);
          }
        } catch (NumberFormatException e) {
          // Not a row of numbers: skipped.
        }
      }
    }
    return scalars;
  }

  private static void add(List<Point> series, double x, String cell) {
    if (cell.isEmpty()) return;
    double y = Double.parseDouble(cell);
    if (Double.isFinite(y) && Double.isFinite(x)) series.add(new Point(x, y));
  }

  /**
   * The run's series from its shards': at each x, the mean of the shards' values at the latest x each has reached
   * (shards log at their own steps; a shard that has not logged yet does not count).
   */
  static List<Point> mean(List<List<Point>> perShard) {
    return combine(perShard, false);
  }

  /** As {@link #mean}, the sum (the run's samples/s from its shards', by time). */
  static List<Point> sum(List<List<Point>> perShard) {
    return combine(perShard, true);
  }

  private static List<Point> combine(List<List<Point>> perShard, boolean sum) {
    TreeMap<Double, double[]> xs = new TreeMap<>();
    List<List<Point>> shards = perShard.stream().filter(s -> !s.isEmpty())
        .map(s -> s.stream().sorted(java.util.Comparator.comparingDouble(Point::x)).toList()).toList();
    for (List<Point> series : shards) for (Point p : series) xs.putIfAbsent(p.x(), null);
    List<Point> combined = new ArrayList<>(xs.size());
    int[] next = new int[shards.size()];
    double[] latest = new double[shards.size()];
    boolean[] seen = new boolean[shards.size()];
    for (double x : xs.keySet()) {
      double total = 0;
      int count = 0;
      for (int s = 0; s < shards.size(); s++) {
        List<Point> sorted = shards.get(s);
        while (next[s] < sorted.size() && sorted.get(next[s]).x() <= x) {
          latest[s] = sorted.get(next[s]).y();
          seen[s] = true;
          next[s]++;
        }
        if (seen[s]) {
          total += latest[s];
          count++;
        }
      }
      if (count > 0) combined.add(new Point(x, sum ? total : total / count));
    }
    return combined;
  }

  /** True when not one shard logged anything. */
  boolean isEmpty() {
    return shards.values().stream().allMatch(s -> s.loss.isEmpty() && s.valLoss.isEmpty());
  }
}
