package io.quarry.protocol;

import java.util.Arrays;
import java.util.List;

/**
 * What a run measures for the metrics endpoint beyond its status: monotone totals per worker, and histograms of step
 * and merge durations. Everything only grows while the run lives (a new coordinator incarnation starts from zero,
 * which Prometheus reads as a counter reset).
 *
 * @param workers per worker that trained the run, its steps and samples trained (redone steps included), by worker id
 * @param stepSeconds the wall time of a training step as the run sees it (between two progress reports of an attempt,
 *     divided over the steps trained between them)
 * @param mergeSeconds the wall time of each hard-example all-gather
 * @param lastMergeEntries entries of the latest merged buffer; 0 before the first merge
 */
public record RunMetricsSnapshot(
    List<WorkerTotals> workers, Histogram stepSeconds, Histogram mergeSeconds, int lastMergeEntries)
    implements QuarryMessage {
  /** Nothing measured yet. */
  public static final RunMetricsSnapshot EMPTY = new RunMetricsSnapshot(List.of(), Histogram.EMPTY, Histogram.EMPTY, 0);

  public RunMetricsSnapshot {
    workers = List.copyOf(workers);
  }

  /**
   * One worker's totals for the run.
   *
   * @param steps shard steps it trained, all its attempts together
   * @param samples samples it trained, all its attempts together
   */
  public record WorkerTotals(String workerId, long steps, long samples) implements QuarryMessage {}

  /**
   * A classic histogram: per bucket the observations at or below its upper bound and above the previous one (not
   * cumulative), the last bound being {@code +Inf}, and the sum of every observation.
   */
  public record Histogram(double[] upperBounds, long[] counts, double sum) implements QuarryMessage {
    /** No buckets, no observations. */
    public static final Histogram EMPTY = new Histogram(new double[0], new long[0], 0);

    public Histogram {
      if (upperBounds.length != counts.length) {
        throw new IllegalArgumentException(upperBounds.length + " bounds but " + counts.length + " counts");
      }
      upperBounds = upperBounds.clone();
      counts = counts.clone();
    }

    /** Observations, all buckets together. */
    public long count() {
      long total = 0;
      for (long count : counts) total += count;
      return total;
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof Histogram histogram && Arrays.equals(upperBounds, histogram.upperBounds)
          && Arrays.equals(counts, histogram.counts) && Double.compare(sum, histogram.sum) == 0;
    }

    @Override
    public int hashCode() {
      return 31 * Arrays.hashCode(upperBounds) + Arrays.hashCode(counts);
    }

    @Override
    public String toString() {
      return "Histogram[bounds=" + Arrays.toString(upperBounds) + ", counts=" + Arrays.toString(counts) + ", sum="
          + sum + "]";
    }
  }
}
