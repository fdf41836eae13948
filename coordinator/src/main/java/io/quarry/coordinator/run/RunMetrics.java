package io.quarry.coordinator.run;

import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunMetricsSnapshot;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What one run measures for the metrics endpoint, as plain logic fed by the lifecycle reports: steps and samples
 * trained per worker, totals that only grow (per attempt it keeps the last step and sample count reported, and counts
 * only what a report adds to them, so a report that arrives twice, late or out of order adds nothing), the duration of
 * a training step (the time between two progress reports of an attempt spread over the steps between them), and the
 * duration and size of each merge. Time comes in as an argument.
 *
 * <p>An attempt this run did not see start (one adopted after a coordinator failover) is counted from its first
 * report on: what it trained before that was counted by the previous coordinator, whose totals a scraper sees reset.
 */
public final class RunMetrics {
  /** Upper bounds of the step-duration buckets, in seconds: 1 ms to a minute per step. */
  static final double[] STEP_BOUNDS_SECONDS =
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, Double.POSITIVE_INFINITY};

  /** Upper bounds of the merge-duration buckets, in seconds: 1 ms to 30 s (merge-timeout is 2 s by default). */
  static final double[] MERGE_BOUNDS_SECONDS =
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, Double.POSITIVE_INFINITY};

  private record AttemptKey(int shard, int attempt) {}

  /** The last report of one attempt: its absolute shard step, its own sample count, and when. */
  private static final class Attempt {
    final String workerId;
    final long startStep;
    long step;
    long samples;
    long lastReportMs;

    Attempt(String workerId, long startStep, long samples, long nowMs) {
      this.workerId = workerId;
      this.startStep = startStep;
      this.step = startStep;
      this.samples = samples;
      this.lastReportMs = nowMs;
    }
  }

  /** Per worker id: steps, samples. */
  private final Map<String, long[]> workers = new TreeMap<>();
  private final Map<AttemptKey, Attempt> attempts = new HashMap<>();
  private final Buckets stepSeconds = new Buckets(STEP_BOUNDS_SECONDS);
  private final Buckets mergeSeconds = new Buckets(MERGE_BOUNDS_SECONDS);
  private int lastMergeEntries;

  /**
   * Counts what a lifecycle report of an attempt adds at {@code nowMs}: a start sets where the attempt's steps count
   * from, progress adds the steps and samples since the attempt's previous report (and their duration), a final
   * report adds the rest of the attempt. Other reports change nothing.
   */
  public void report(RunCommand.ShardReport report, long nowMs) {
    if (report instanceof RunCommand.ShardStarted started) {
      attempts.putIfAbsent(new AttemptKey(started.shard(), started.attempt()),
          new Attempt(started.workerId(), started.startStep(), 0, nowMs));
    } else if (report instanceof RunCommand.ShardProgressed progressed) {
      progressed(progressed, nowMs);
    } else if (report instanceof RunCommand.ShardCompleted completed) {
      ended(completed.shard(), completed.attempt(), completed.endStep(), completed.samplesTrained(), nowMs);
    } else if (report instanceof RunCommand.ShardStopped stopped) {
      ended(stopped.shard(), stopped.attempt(), stopped.endStep(), stopped.samplesTrained(), nowMs);
    } else if (report instanceof RunCommand.ShardFailed failed) {
      Attempt attempt = attempts.get(new AttemptKey(failed.shard(), failed.attempt()));
      long endStep = attempt == null ? -1 : attempt.startStep + failed.stepsTrained();
      ended(failed.shard(), failed.attempt(), endStep, failed.samplesTrained(), nowMs);
    }
  }

  private void progressed(RunCommand.ShardProgressed report, long nowMs) {
    AttemptKey key = new AttemptKey(report.shard(), report.attempt());
    Attempt attempt = attempts.get(key);
    if (attempt == null) {
      // Not seen starting (adopted after a failover): counted from here on.
      attempts.put(key, new Attempt(report.workerId(), report.step(), report.samples(), nowMs));
      workerTotals(report.workerId());
      return;
    }
    long steps = advance(attempt, report.step(), report.samples());
    if (steps > 0 && nowMs > attempt.lastReportMs) {
      stepSeconds.observe((nowMs - attempt.lastReportMs) / 1000.0 / steps, steps);
    }
    if (steps > 0) attempt.lastReportMs = nowMs;
  }

  private void ended(int shard, int attempt, long endStep, long samples, long nowMs) {
    Attempt known = attempts.remove(new AttemptKey(shard, attempt));
    if (known == null) return;
    long steps = advance(known, endStep < 0 ? known.step : endStep, samples);
    if (steps > 0 && nowMs > known.lastReportMs) stepSeconds.observe((nowMs - known.lastReportMs) / 1000.0 / steps, steps);
  }

  /** Adds what the attempt's report at {@code step} with {@code samples} adds to its worker's totals; returns the steps. */
  private long advance(Attempt attempt, long step, long samples) {
    long steps = Math.max(0, step - attempt.step);
    long moreSamples = Math.max(0, samples - attempt.samples);
    attempt.step = Math.max(attempt.step, step);
    attempt.samples = Math.max(attempt.samples, samples);
    long[] totals = workerTotals(attempt.workerId);
    totals[0] += steps;
    totals[1] += moreSamples;
    return steps;
  }

  private long[] workerTotals(String workerId) {
    return workers.computeIfAbsent(workerId, id -> new long[2]);
  }

  /** A merge took {@code gatherSeconds} to all-gather and kept {@code entries} entries. */
  public void merged(double gatherSeconds, int entries) {
    mergeSeconds.observe(gatherSeconds, 1);
    lastMergeEntries = entries;
  }

  /** Everything measured so far. */
  public RunMetricsSnapshot snapshot() {
    List<RunMetricsSnapshot.WorkerTotals> totals = new ArrayList<>(workers.size());
    workers.forEach((id, values) -> totals.add(new RunMetricsSnapshot.WorkerTotals(id, values[0], values[1])));
    return new RunMetricsSnapshot(totals, stepSeconds.snapshot(), mergeSeconds.snapshot(), lastMergeEntries);
  }

  /** Non-cumulative bucket counts and their sum. */
  private static final class Buckets {
    final double[] bounds;
    final long[] counts;
    double sum;

    Buckets(double[] bounds) {
      this.bounds = bounds;
      this.counts = new long[bounds.length];
    }

    void observe(double value, long times) {
      int bucket = 0;
      while (value > bounds[bucket]) bucket++;
      counts[bucket] += times;
      sum += value * times;
    }

    RunMetricsSnapshot.Histogram snapshot() {
      return new RunMetricsSnapshot.Histogram(bounds, counts, sum);
    }
  }
}
