package io.quarry.coordinator.metrics;

import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.Unit;
import io.quarry.protocol.CoordinatorCommand.WorkerInfo;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunMetricsSnapshot;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.ShardState;
import io.quarry.protocol.WorkerState;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The cluster as Prometheus metrics, as plain logic: from the runs and workers the coordinator answers with
 * ({@code ListRuns}, {@code GetWorkers}) to metric snapshots, following Prometheus' conventions — base units
 * (seconds, bytes), {@code _total} on counters, and no label whose values grow without bound: {@code run_id} (only
 * the runs that have not ended have series of their own: a run's series go when it ends), {@code worker_id} (the
 * cluster's workers), {@code state} (an enum). No sample ids, steps or merge numbers are labels.
 *
 * <pre>
 * quarry_runs{state}                          runs the coordinator knows, by state (every state, 0 included)
 * quarry_workers{state}                       workers, by state
 * quarry_run_state{run_id,state}              1 for an active run's state
 * quarry_shards{run_id,state}                 an active run's shards, by state
 * quarry_run_steps{run_id}, quarry_run_total_steps{run_id}, quarry_run_last_loss{run_id},
 * quarry_run_samples_per_second{run_id}
 * quarry_worker_steps_trained_total{run_id,worker_id}, quarry_worker_samples_trained_total{run_id,worker_id}
 * quarry_run_step_duration_seconds{run_id}    histogram
 * quarry_run_merge_duration_seconds{run_id}   histogram; quarry_run_merge_entries{run_id}
 * quarry_run_&lt;counter&gt;_total{run_id}         every {@link RunCounter} (milliseconds as seconds)
 * </pre>
 */
public final class ClusterMetrics {
  private static final String RUN_ID = "run_id";

  private ClusterMetrics() {}

  /** The metrics of the cluster whose coordinator knows {@code runs} and {@code workers}. */
  public static List<MetricSnapshot> snapshots(List<RunStatus> runs, List<WorkerInfo> workers) {
    List<RunStatus> active = runs.stream().filter(run -> !run.state().isFinal()).toList();
    List<MetricSnapshot> snapshots = new ArrayList<>();
    snapshots.add(runsByState(runs));
    snapshots.add(workersByState(workers));
    snapshots.add(runState(active));
    snapshots.add(shardsByState(active));
    snapshots.add(gauge("quarry_run_steps", "shard steps reached, all shards of the run together", active,
        run -> (double) run.steps()));
    snapshots.add(gauge("quarry_run_total_steps", "shard steps the run takes when every shard completes", active,
        run -> (double) run.totalSteps()));
    snapshots.add(gauge("quarry_run_last_loss", "the latest mean training loss a shard reported", active,
        run -> Float.isNaN(run.lastLoss()) ? null : (double) run.lastLoss()));
    snapshots.add(gauge("quarry_run_samples_per_second", "the run's training throughput since it was submitted",
        active, RunStatus::samplesPerSec));
    snapshots.add(workerTotals("quarry_worker_steps_trained", "shard steps a worker trained for the run (redone steps "
        + "included)", active, true));
    snapshots.add(workerTotals("quarry_worker_samples_trained", "samples a worker trained for the run", active, false));
    snapshots.add(histogram("quarry_run_step_duration_seconds", "wall time of a training step, between progress "
        + "reports", active, RunMetricsSnapshot::stepSeconds));
    snapshots.add(histogram("quarry_run_merge_duration_seconds", "wall time of a hard-example all-gather", active,
        RunMetricsSnapshot::mergeSeconds));
    snapshots.add(gauge("quarry_run_merge_entries", "entries of the latest merged hard-example buffer", active,
        run -> (double) run.metrics().lastMergeEntries()));
    for (RunCounter counter : RunCounter.values()) snapshots.add(counter(counter, active));
    return snapshots;
  }

  /**
   * The metric name of a run counter: {@code quarry_run_} and its label, milliseconds turned into seconds
   * ({@code merge_gather_ms_total} is {@code quarry_run_merge_gather_seconds_total}); a counter's name here is
   * without the {@code _total} the text format adds.
   */
  static String counterName(RunCounter counter) {
    String label = counter.label();
    if (label.endsWith("_ms_total")) return "quarry_run_" + label.substring(0, label.length() - 9) + "_seconds";
    if (label.endsWith("_ms_max")) return "quarry_run_" + label.substring(0, label.length() - 7) + "_seconds_max";
    if (label.endsWith("_total")) return "quarry_run_" + label.substring(0, label.length() - 6);
    return "quarry_run_" + label;
  }

  /** How a counter's value reads in base units: milliseconds as seconds. */
  static double baseUnits(RunCounter counter, long value) {
    return counter.label().contains("_ms_") ? value / 1000.0 : value;
  }

  private static MetricSnapshot counter(RunCounter counter, List<RunStatus> runs) {
    String name = counterName(counter);
    if (counter.kind() == RunCounter.Kind.MAX) {
      return gauge(name, counter.meaning() + " (in seconds)", runs,
          run -> baseUnits(counter, run.counters().get(counter)));
    }
    CounterSnapshot.Builder builder = CounterSnapshot.builder().name(name).help(counter.meaning()
        + (counter.label().contains("_ms_") ? " (in seconds)" : ""));
    for (RunStatus run : runs) {
      builder.dataPoint(CounterDataPointSnapshot.builder().labels(Labels.of(RUN_ID, run.runId()))
          .value(baseUnits(counter, run.counters().get(counter))).build());
    }
    return builder.build();
  }

  private static MetricSnapshot runsByState(List<RunStatus> runs) {
    Map<RunState, Integer> counts = new EnumMap<>(RunState.class);
    for (RunState state : RunState.values()) counts.put(state, 0);
    for (RunStatus run : runs) counts.merge(run.state(), 1, Integer::sum);
    GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name("quarry_runs")
        .help("runs the coordinator knows (since it started), by state");
    counts.forEach((state, count) -> builder.dataPoint(
        GaugeDataPointSnapshot.builder().labels(Labels.of("state", state.wireName())).value(count).build()));
    return builder.build();
  }

  private static MetricSnapshot workersByState(List<WorkerInfo> workers) {
    Map<WorkerState, Integer> counts = new EnumMap<>(WorkerState.class);
    for (WorkerState state : WorkerState.values()) counts.put(state, 0);
    for (WorkerInfo worker : workers) counts.merge(worker.state(), 1, Integer::sum);
    GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name("quarry_workers").help("workers, by state");
    counts.forEach((state, count) -> builder.dataPoint(GaugeDataPointSnapshot.builder()
        .labels(Labels.of("state", state.name().toLowerCase(java.util.Locale.ROOT))).value(count).build()));
    return builder.build();
  }

  private static MetricSnapshot runState(List<RunStatus> runs) {
    GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name("quarry_run_state")
        .help("1 for the state an active run is in (pending, running or stopping)");
    for (RunStatus run : runs) {
      builder.dataPoint(GaugeDataPointSnapshot.builder()
          .labels(Labels.of(RUN_ID, run.runId(), "state", run.state().wireName())).value(1).build());
    }
    return builder.build();
  }

  private static MetricSnapshot shardsByState(List<RunStatus> runs) {
    GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name("quarry_shards").help("an active run's shards, by state");
    for (RunStatus run : runs) {
      Map<ShardState, Integer> counts = new EnumMap<>(ShardState.class);
      for (ShardState state : ShardState.values()) counts.put(state, 0);
      for (RunStatus.ShardStatus shard : run.shards()) counts.merge(shard.state(), 1, Integer::sum);
      counts.forEach((state, count) -> builder.dataPoint(GaugeDataPointSnapshot.builder()
          .labels(Labels.of(RUN_ID, run.runId(), "state", state.name().toLowerCase(java.util.Locale.ROOT)))
          .value(count).build()));
    }
    return builder.build();
  }

  /** A gauge per run; a run for which {@code value} is null has no point. */
  private static MetricSnapshot gauge(String name, String help, List<RunStatus> runs,
      java.util.function.Function<RunStatus, Double> value) {
    GaugeSnapshot.Builder builder = GaugeSnapshot.builder().name(name).help(help);
    for (RunStatus run : runs) {
      Double v = value.apply(run);
      if (v != null) builder.dataPoint(GaugeDataPointSnapshot.builder().labels(Labels.of(RUN_ID, run.runId())).value(v).build());
    }
    return builder.build();
  }

  private static MetricSnapshot workerTotals(String name, String help, List<RunStatus> runs, boolean steps) {
    CounterSnapshot.Builder builder = CounterSnapshot.builder().name(name).help(help);
    for (RunStatus run : runs) {
      for (RunMetricsSnapshot.WorkerTotals worker : run.metrics().workers()) {
        builder.dataPoint(CounterDataPointSnapshot.builder()
            .labels(Labels.of(RUN_ID, run.runId(), "worker_id", worker.workerId()))
            .value(steps ? worker.steps() : worker.samples()).build());
      }
    }
    return builder.build();
  }

  private static MetricSnapshot histogram(String name, String help, List<RunStatus> runs,
      java.util.function.Function<RunMetricsSnapshot, RunMetricsSnapshot.Histogram> histogram) {
    HistogramSnapshot.Builder builder = HistogramSnapshot.builder().name(name).help(help).unit(Unit.SECONDS);
    for (RunStatus run : runs) {
      RunMetricsSnapshot.Histogram values = histogram.apply(run.metrics());
      if (values.upperBounds().length == 0) continue;
      builder.dataPoint(HistogramDataPointSnapshot.builder().labels(Labels.of(RUN_ID, run.runId()))
          .classicHistogramBuckets(ClassicHistogramBuckets.of(values.upperBounds(), values.counts()))
          .sum(values.sum()).build());
    }
    return builder.build();
  }
}
