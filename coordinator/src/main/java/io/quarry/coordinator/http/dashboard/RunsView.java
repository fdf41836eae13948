package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.coordinator.http.ApiJson;
import io.quarry.protocol.CoordinatorCommand.WorkerInfo;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.HostLoad;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunStatus;
import io.quarry.protocol.ShardState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The runs as the dashboard's tables show them: each run's status (as the API gives it) with what its directory adds
 * — validation scores, alerts, its trainer, ETA — and, for the runs of a sweep ({@code <sweep-id>-<n>}, two or
 * more), the keys the sweep varied and their values. Also the Compare page's data (configs that differ, the sweeps'
 * tables) and the Cluster page's (workers, the queue and why each run waits).
 */
final class RunsView {
  private static final Pattern SWEEP_MEMBER = Pattern.compile("(.+)-(\\d+)");

  private final RunSource source;
  private final RunFolders folders;
  private final Executor files;
  private final DashboardSettings settings;
  private volatile CompletableFuture<ObjectNode> lastRuns;
  private volatile long lastRunsAtMs;

  RunsView(RunSource source, RunFolders folders, Executor files, DashboardSettings settings) {
    this.source = source;
    this.folders = folders;
    this.files = files;
    this.settings = settings;
  }

  /** {@code {"runs": [run with extras], "read_only": bool}}; one answer serves every caller for status-max-age. */
  CompletionStage<ObjectNode> runs() {
    long now = System.currentTimeMillis();
    CompletableFuture<ObjectNode> last = lastRuns;
    if (last != null && now - lastRunsAtMs < settings.statusMaxAge().toMillis() && !last.isCompletedExceptionally()) {
      return last;
    }
    CompletableFuture<ObjectNode> next = source.runs().thenApplyAsync(this::runsJson, files).toCompletableFuture();
    lastRuns = next;
    lastRunsAtMs = now;
    return next;
  }

  private ObjectNode runsJson(List<RunStatus> runs) {
    Map<String, Map<String, String>> configs = new LinkedHashMap<>();
    Map<String, ObjectNode> rows = new LinkedHashMap<>();
    for (RunStatus run : runs) {
      ObjectNode row = ApiJson.run(run);
      row.remove("hardest");
      configs.put(run.runId(), extras(run, row));
      rows.put(run.runId(), row);
    }
    for (Sweep sweep : sweeps(configs)) {
      for (String runId : sweep.runs()) {
        ObjectNode row = rows.get(runId);
        row.put("sweep", sweep.id());
        ObjectNode swept = row.putObject("swept");
        for (String key : sweep.keys()) swept.put(key, configs.get(runId).getOrDefault(key, ""));
      }
    }
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    ArrayNode array = out.putArray("runs");
    rows.values().forEach(array::add);
    out.put("read_only", source.readOnly());
    return out;
  }

  /** Adds the directory's view of {@code run} to {@code row}; returns the run's config, flat. */
  private Map<String, String> extras(RunStatus run, ObjectNode row) {
    long now = System.currentTimeMillis();
    if (run.state() == RunState.RUNNING && run.startedUnixMs() > 0 && run.steps() > 0 && run.totalSteps() > run.steps()) {
      double elapsedS = (now - run.startedUnixMs()) / 1000.0;
      row.put("eta_s", Math.round(elapsedS * (run.totalSteps() - run.steps()) / run.steps()));
    } else {
      row.putNull("eta_s");
    }
    long end = run.finishedUnixMs() > 0 ? run.finishedUnixMs() : now;
    if (run.submittedUnixMs() > 0) row.put("duration_s", Math.max(0, end - (run.startedUnixMs() > 0 ? run.startedUnixMs() : run.submittedUnixMs())) / 1000.0);
    RunFolder folder = folders.folder(Path.of(run.runDir()), run.runId());
    try {
      return folder.read(System.nanoTime(), read -> {
        RunStatusFromEvents digest = read.digest();
        row.put("trainer", digest.trainer().isEmpty() ? read.flatConfig().getOrDefault("trainer", "") : digest.trainer());
        number(row, "val_accuracy", digest.valAccuracy());
        number(row, "val_loss", digest.valLoss());
        row.put("alerts", digest.alerts());
        if (digest.lastAlert() != null) row.put("last_alert", digest.lastAlert().path("message").asText(""));
        return read.flatConfig();
      });
    } catch (IOException | UncheckedIOException e) {
      row.put("alerts", 0);
      row.put("files_error", e.getMessage());
      return Map.of();
    }
  }

  /** A sweep: its id, its runs in index order and the keys whose values differ among them. */
  record Sweep(String id, List<String> runs, List<String> keys) {}

  /** The sweeps among {@code configs}' runs: ids {@code <sweep>-<n>}, two or more sharing the sweep id. */
  static List<Sweep> sweeps(Map<String, Map<String, String>> configs) {
    Map<String, TreeMap<Long, String>> groups = new TreeMap<>();
    for (String runId : configs.keySet()) {
      Matcher matcher = SWEEP_MEMBER.matcher(runId);
      if (matcher.matches() && matcher.group(2).length() < 10) {
        groups.computeIfAbsent(matcher.group(1), g -> new TreeMap<>()).put(Long.parseLong(matcher.group(2)), runId);
      }
    }
    List<Sweep> out = new ArrayList<>();
    groups.forEach((id, members) -> {
      if (members.size() < 2) return;
      List<String> runs = List.copyOf(members.values());
      List<String> keys = differing(runs.stream().map(configs::get).toList());
      keys.remove("name");
      out.add(new Sweep(id, runs, keys));
    });
    return out;
  }

  /** The keys whose values are not the same in every one of {@code configs} (a key one lacks differs). */
  static List<String> differing(List<Map<String, String>> configs) {
    TreeSet<String> keys = new TreeSet<>();
    configs.forEach(config -> keys.addAll(config.keySet()));
    List<String> out = new ArrayList<>();
    for (String key : keys) {
      String first = configs.get(0).get(key);
      for (Map<String, String> config : configs) {
        if (!java.util.Objects.equals(first, config.get(key))) {
          out.add(key);
          break;
        }
      }
    }
    return out;
  }

  /**
   * The Compare page's data for {@code runIds}: {@code {"runs": [run with extras and "config"], "unknown": [...],
   * "differ": {key: {run: value}}, "sweeps": [{"sweep", "keys", "runs": [{"run_id", "values", "state", "last_loss",
   * "val_accuracy", "duration_s"}]}]}}.
   */
  CompletionStage<ObjectNode> compare(List<String> runIds) {
    return runs().thenApplyAsync(all -> {
      Map<String, ObjectNode> byId = new LinkedHashMap<>();
      all.path("runs").forEach(run -> byId.put(run.path("run_id").asText(), (ObjectNode) run));
      ObjectNode out = JsonNodeFactory.instance.objectNode();
      ArrayNode runs = out.putArray("runs");
      ArrayNode unknown = out.putArray("unknown");
      Map<String, Map<String, String>> configs = new LinkedHashMap<>();
      TreeSet<String> sweepIds = new TreeSet<>();
      for (String runId : runIds) {
        ObjectNode run = byId.get(runId);
        if (run == null) {
          unknown.add(runId);
          continue;
        }
        Map<String, String> config = config(run);
        configs.put(runId, config);
        ObjectNode entry = run.deepCopy();
        runs.add(entry);
        if (run.hasNonNull("sweep")) sweepIds.add(run.get("sweep").asText());
      }
      ObjectNode differ = out.putObject("differ");
      if (configs.size() > 1) {
        for (String key : differing(List.copyOf(configs.values()))) {
          ObjectNode values = differ.putObject(key);
          configs.forEach((runId, config) -> {
            if (config.containsKey(key)) values.put(runId, config.get(key));
            else values.putNull(runId);
          });
        }
      }
      ArrayNode sweeps = out.putArray("sweeps");
      for (String sweepId : sweepIds) {
        ObjectNode sweep = sweeps.addObject();
        sweep.put("sweep", sweepId);
        ArrayNode keys = sweep.putArray("keys");
        ArrayNode members = sweep.putArray("runs");
        TreeSet<String> keyNames = new TreeSet<>();
        List<ObjectNode> inSweep = new ArrayList<>();
        byId.values().forEach(run -> {
          if (sweepId.equals(run.path("sweep").asText(null))) inSweep.add(run);
        });
        inSweep.sort(Comparator.comparingLong(run -> memberIndex(run.path("run_id").asText())));
        for (ObjectNode run : inSweep) run.path("swept").fieldNames().forEachRemaining(keyNames::add);
        keyNames.forEach(keys::add);
        for (ObjectNode run : inSweep) {
          ObjectNode member = members.addObject();
          member.set("run_id", run.get("run_id"));
          member.set("values", run.path("swept"));
          member.set("state", run.get("state"));
          member.set("last_loss", run.get("last_loss"));
          member.set("val_accuracy", run.get("val_accuracy"));
          member.set("duration_s", run.get("duration_s"));
        }
      }
      return out;
    }, files);
  }

  private Map<String, String> config(ObjectNode run) {
    RunFolder folder = folders.folder(Path.of(run.path("run_dir").asText()), run.path("run_id").asText());
    try {
      return folder.read(System.nanoTime(), RunFolder::flatConfig);
    } catch (IOException e) {
      return Map.of();
    }
  }

  private static long memberIndex(String runId) {
    Matcher matcher = SWEEP_MEMBER.matcher(runId);
    return matcher.matches() && matcher.group(2).length() < 10 ? Long.parseLong(matcher.group(2)) : Long.MAX_VALUE;
  }

  /**
   * The Cluster page's data: {@code {"workers": [{"worker_id", "device", "state", "run_id", "shard", "steps_per_s"}],
   * "queue": [{"run_id", "position", "priority", "submitted", "reason"}], "running": N, "max_concurrent_runs": L}}.
   */
  CompletionStage<ObjectNode> cluster() {
    CompletionStage<CoordinatorCommand.WorkersReply> workers = source.workers();
    return source.runs().thenCombine(workers, ClusterInput::new)
        .thenApplyAsync(input -> clusterJson(input.runs(), input.workers()), files);
  }

  private record ClusterInput(List<RunStatus> runs, CoordinatorCommand.WorkersReply workers) {}

  private ObjectNode clusterJson(List<RunStatus> runs, CoordinatorCommand.WorkersReply reply) {
    List<WorkerInfo> infos = reply.workers();
    Map<String, HostLoad> loads = new LinkedHashMap<>();
    reply.hosts().forEach(host -> loads.put(host.workerId(), host.load()));
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    Map<String, RunStatus> byId = new LinkedHashMap<>();
    runs.forEach(run -> byId.put(run.runId(), run));
    ArrayNode workers = out.putArray("workers");
    long idle = 0;
    long live = 0;
    for (WorkerInfo info : infos) {
      ObjectNode worker = workers.addObject();
      worker.put("worker_id", info.workerId());
      worker.put("device", info.device());
      worker.put("state", info.state() == null ? null : info.state().name().toLowerCase(java.util.Locale.ROOT));
      worker.put("run_id", info.runId());
      HostLoad load = info.workerId() == null ? null : loads.get(info.workerId());
      worker.put("host", load == null ? null : load.host());
      if (info.workerId() != null && info.state() != io.quarry.protocol.WorkerState.LOST) live++;
      if (info.state() == io.quarry.protocol.WorkerState.IDLE) idle++;
      RunStatus run = info.runId() == null ? null : byId.get(info.runId());
      Optional<RunStatus.ShardStatus> shard = run == null ? Optional.empty() : run.shards().stream()
          .filter(s -> info.workerId() != null && info.workerId().equals(s.workerId())
              && (s.state() == ShardState.RUNNING || s.state() == ShardState.ASSIGNED)).findFirst();
      if (shard.isPresent()) {
        worker.put("shard", shard.get().shard());
        worker.put("step", shard.get().step());
        number(worker, "steps_per_s", stepsPerSecond(run, shard.get().shard()));
      } else {
        worker.putNull("shard");
        worker.putNull("steps_per_s");
      }
    }
    hosts(out.putArray("hosts"), loads);
    long running = runs.stream().filter(r -> r.state() == RunState.RUNNING || r.state() == RunState.STOPPING).count();
    out.put("running", running);
    out.put("max_concurrent_runs", settings.maxConcurrentRuns());
    ArrayNode queue = out.putArray("queue");
    List<RunStatus> waiting = new ArrayList<>(runs.stream().filter(r -> r.state() == RunState.PENDING).toList());
    Map<String, Integer> priorities = new TreeMap<>();
    for (RunStatus run : waiting) {
      Map<String, String> config = config(run);
      priorities.put(run.runId(), parseInt(config.get("priority")));
    }
    waiting.sort(Comparator.<RunStatus>comparingInt(r -> -priorities.getOrDefault(r.runId(), 0))
        .thenComparingLong(RunStatus::submittedUnixMs));
    int position = 1;
    for (RunStatus run : waiting) {
      ObjectNode entry = queue.addObject();
      entry.put("run_id", run.runId());
      entry.put("name", run.name());
      entry.put("position", position++);
      entry.put("priority", priorities.getOrDefault(run.runId(), 0));
      entry.put("submitted_unix_ms", run.submittedUnixMs());
      entry.put("reason", waitReason(running, live, idle, position - 1));
    }
    return out;
  }

  /** One entry per host: its workers and the newest load any of them reported. */
  private static void hosts(ArrayNode out, Map<String, HostLoad> byWorker) {
    Map<String, List<String>> workersOf = new TreeMap<>();
    Map<String, HostLoad> newest = new TreeMap<>();
    byWorker.forEach((workerId, load) -> {
      workersOf.computeIfAbsent(load.host(), h -> new ArrayList<>()).add(workerId);
      newest.merge(load.host(), load, (a, b) -> a.sampledUnixMs() >= b.sampledUnixMs() ? a : b);
    });
    newest.forEach((host, load) -> {
      ObjectNode entry = out.addObject();
      entry.put("host", host);
      ArrayNode workers = entry.putArray("workers");
      workersOf.get(host).forEach(workers::add);
      number(entry, "cpu_load", load.cpuLoad() < 0 ? Double.NaN : load.cpuLoad());
      entry.put("memory_used_bytes", load.memoryUsedBytes());
      entry.put("memory_total_bytes", load.memoryTotalBytes());
      ArrayNode gpus = entry.putArray("gpus");
      for (HostLoad.Gpu gpu : load.gpus()) {
        ObjectNode g = gpus.addObject();
        g.put("index", gpu.index());
        g.put("name", gpu.name());
        g.put("utilization_pct", gpu.utilizationPct());
        g.put("memory_used_mib", gpu.memoryUsedMib());
        g.put("memory_total_mib", gpu.memoryTotalMib());
      }
      entry.put("reported", java.time.Instant.ofEpochMilli(load.sampledUnixMs()).toString());
      entry.put("reported_unix_ms", load.sampledUnixMs());
    });
  }

  private String waitReason(long running, long live, long idle, int position) {
    int limit = settings.maxConcurrentRuns();
    if (limit > 0 && running >= limit) {
      return "at most " + limit + " runs train at once (quarry.coordinator.max-concurrent-runs) and " + running
          + " are training";
    }
    if (live == 0) return "no worker has joined the cluster yet";
    if (idle == 0) return "every worker is busy (" + live + " worker(s)); it starts when one is free";
    if (position > 1) return "behind " + (position - 1) + " run(s) in the queue (priority, then submission)";
    return "being given workers";
  }

  private double stepsPerSecond(RunStatus run, int shard) {
    RunFolder folder = folders.folder(Path.of(run.runDir()), run.runId());
    try {
      return folder.read(System.nanoTime(), read -> {
        ScalarTable table = read.scalars();
        long lastStep = -1;
        long lastTs = 0;
        for (int row = table.size() - 1; row >= 0 && row >= table.size() - 5000; row--) {
          if (table.shard(row) != shard || table.split(row) != ScalarTable.TRAIN) continue;
          if (lastStep < 0) {
            lastStep = table.step(row);
            lastTs = table.tsMs(row);
          } else if (lastTs - table.tsMs(row) >= 1000 || row == 0) {
            long dt = lastTs - table.tsMs(row);
            return dt > 0 ? (lastStep - table.step(row)) * 1000.0 / dt : Double.NaN;
          }
        }
        return Double.NaN;
      });
    } catch (IOException e) {
      return Double.NaN;
    }
  }

  private Map<String, String> config(RunStatus run) {
    try {
      return folders.folder(Path.of(run.runDir()), run.runId()).read(System.nanoTime(), RunFolder::flatConfig);
    } catch (IOException e) {
      return Map.of();
    }
  }

  private static int parseInt(String value) {
    try {
      return value == null ? 0 : Integer.parseInt(value.strip());
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  static void number(ObjectNode node, String field, double value) {
    if (Double.isFinite(value)) node.put(field, value);
    else node.putNull(field);
  }
}
