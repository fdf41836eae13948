package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.coordinator.metrics.ClusterMetrics;
import io.quarry.protocol.CoordinatorCommand.WorkerInfo;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.RunMetricsSnapshot;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.ShardState;
import io.quarry.protocol.WorkerState;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The metrics text as Prometheus reads it: checked by Prometheus' own {@code promtool check metrics} (the Java client
 * 1.x has no parser of the text format; scripts/install-test-deps.sh installs Debian's prometheus, which has it).
 */
class MetricsEndpointTest {
  private static RunStatus run(String id, RunState state, long steps) {
    RunCounters counters = RunCounters.ZERO.add(RunCounter.SHARD_RETRIES, 2).add(RunCounter.MERGE_GATHER_MS_TOTAL, 1500)
        .add(RunCounter.MERGE_GATHER_MS_MAX, 900).add(RunCounter.SYNC_BYTES_RECEIVED, 4096);
    RunMetricsSnapshot metrics = new RunMetricsSnapshot(
        List.of(new RunMetricsSnapshot.WorkerTotals("host:2552/cpu-0", steps, steps * 32)),
        new RunMetricsSnapshot.Histogram(new double[] {0.01, 0.1, Double.POSITIVE_INFINITY}, new long[] {5, steps, 1},
            2.5),
        new RunMetricsSnapshot.Histogram(new double[] {0.5, Double.POSITIVE_INFINITY}, new long[] {3, 0}, 0.3), 64);
    return new RunStatus(id, "", state, 1L, 2L, 0L, steps, 100L, 0.75f, 1234.5, 0L, 3, "",
        List.of(new RunStatus.ShardStatus(0, ShardState.RUNNING, 1, 0, "host:2552/cpu-0", steps, 50, 0, "", false, null),
            new RunStatus.ShardStatus(1, ShardState.PENDING, 2, 1, null, 0, 50, 0, "boom", false, null)),
        List.of("host:2552/cpu-0"), "runs/" + id, List.of(), counters, "", metrics);
  }

  private static String text(List<RunStatus> runs) {
    List<WorkerInfo> workers = List.of(new WorkerInfo("host:2552/cpu-0", "cpu", WorkerState.BUSY, "training"),
        new WorkerInfo(null, null, WorkerState.UP, null));
    return new String(new MetricsEndpoint(null, null, null).text(ClusterMetrics.snapshots(runs, workers)),
        StandardCharsets.UTF_8);
  }

  @Test
  void activeRunsHaveSeriesAndEndedRunsOnlyCountByState() {
    String text = text(List.of(run("training", RunState.RUNNING, 40), run("done", RunState.COMPLETED, 100)));
    assertTrue(text.contains("quarry_runs{state=\"running\"} 1"), text);
    assertTrue(text.contains("quarry_runs{state=\"completed\"} 1"), text);
    assertTrue(text.contains("quarry_runs{state=\"failed\"} 0"), text);
    assertTrue(text.contains("quarry_workers{state=\"busy\"} 1"), text);
    assertTrue(text.contains("quarry_shards{run_id=\"training\",state=\"pending\"} 1"), text);
    assertTrue(text.contains("quarry_run_steps{run_id=\"training\"} 40"), text);
    assertTrue(text.contains("quarry_worker_steps_trained_total{run_id=\"training\",worker_id=\"host:2552/cpu-0\"} 40"),
        text);
    assertTrue(text.contains("quarry_run_shard_retries_total{run_id=\"training\"} 2"), text);
    assertTrue(text.contains("quarry_run_merge_gather_seconds_total{run_id=\"training\"} 1.5"), "ms as seconds: " + text);
    assertTrue(text.contains("quarry_run_merge_gather_seconds_max{run_id=\"training\"} 0.9"), text);
    assertTrue(text.contains("quarry_run_sync_received_bytes_total{run_id=\"training\"} 4096"), text);
    assertTrue(text.contains("quarry_run_step_duration_seconds_bucket{run_id=\"training\",le=\"+Inf\"} 46"),
        "cumulative buckets: " + text);
    assertTrue(text.contains("quarry_run_step_duration_seconds_count{run_id=\"training\"} 46"), text);
    assertTrue(text.contains("jvm_memory_used_bytes"), "the JVM's own metrics: " + text);
    assertFalse(text.contains("run_id=\"done\""), "an ended run has no series of its own: " + text);
  }

  @Test
  void promtoolAcceptsTheTextWithoutLintProblems() throws Exception {
    String text = text(List.of(run("training", RunState.RUNNING, 40), run("stopping", RunState.STOPPING, 3),
        run("done", RunState.FAILED, 100)));
    Process promtool = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
    promtool.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
    promtool.getOutputStream().close();
    String output = new String(promtool.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(promtool.waitFor(30, TimeUnit.SECONDS), "promtool did not end");
    assertEquals(0, promtool.exitValue(), "promtool check metrics: " + output);
  }
}
