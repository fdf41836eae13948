package io.quarry.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * A cluster of node JVMs for a multi-process test, and what the test asks of it: start coordinators and workers (on
 * this host or inside a {@link NetNamespace}), talk to the HTTP API with the coordinators' token, wait for workers and
 * run states, and read what the nodes wrote (events, checkpoint files). Every wait is bounded. {@link #close()} kills
 * every JVM, then deletes the namespaces, whatever happened before.
 */
final class ClusterScenario implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  final Path dir;
  final Path runsDir;
  final NodeProcesses nodes;
  private final List<NetNamespace> namespaces = new ArrayList<>();

  ClusterScenario(Path dir) {
    this.dir = dir;
    this.runsDir = dir.resolve("runs");
    this.nodes = new NodeProcesses(dir.resolve("logs"));
  }

  /** A second host: a namespace this scenario deletes on close. */
  NetNamespace namespace() {
    NetNamespace ns = NetNamespace.create();
    namespaces.add(ns);
    return ns;
  }

  /**
   * Starts a coordinator node on {@code host} ({@code ns} null: this host's network; else inside it), its API on
   * {@code host} too, and waits until it is up. Returns its API's base URL.
   */
  String startCoordinator(String name, NetNamespace ns, String host, int artery, int http, String seeds)
      throws InterruptedException {
    List<String> args = new ArrayList<>(List.of("coordinator", "--host", host, "--port", "" + artery, "--http-host",
        host, "--http-port", "" + http, "--runs-dir", runsDir.toString()));
    if (seeds != null) args.addAll(List.of("--seed-nodes", seeds));
    start(name, ns, args);
    nodes.awaitLog(name, "quarry coordinator node up", Duration.ofSeconds(90));
    return "http://" + host + ":" + http;
  }

  /** Starts a worker node with one worker per device on {@code host} (inside {@code ns} unless null). */
  void startWorker(String name, NetNamespace ns, String host, String seeds, String devices)
      throws InterruptedException {
    start(name, ns, List.of("worker", "--host", host, "--seed-nodes", seeds, "--devices", devices));
    nodes.awaitLog(name, "quarry worker node up", Duration.ofSeconds(90));
  }

  private void start(String name, NetNamespace ns, List<String> args) {
    String[] argv = args.toArray(new String[0]);
    if (ns == null) {
      nodes.start(name, Map.of(), argv);
    } else {
      nodes.start(name, ns, Map.of(), argv);
    }
  }

  /** The operate token the first coordinator made in the runs directory at its start. */
  String token() {
    String token = ApiClient.token(null, Map.of("QUARRY_RUNS_DIR", runsDir.toString()));
    if (token == null) throw new AssertionError("no token file in " + runsDir);
    return token;
  }

  ApiClient client(String url) {
    return new ApiClient(url, token(), null);
  }

  /** Waits until at least {@code count} workers are registered and not lost. */
  void awaitWorkers(ApiClient api, int count) throws Exception {
    await(() -> {
      long ready = 0;
      for (JsonNode worker : workers(api)) {
        if (!worker.path("worker_id").isNull() && !worker.path("state").asText().equals("lost")) ready++;
      }
      return ready >= count;
    }, Duration.ofSeconds(90), count + " workers registered");
  }

  List<JsonNode> workers(ApiClient api) throws Exception {
    HttpResponse<String> response = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build().send(
        HttpRequest.newBuilder(URI.create(api.base() + "/api/workers")).timeout(Duration.ofSeconds(10))
            .header("Authorization", "Bearer " + token()).build(),
        HttpResponse.BodyHandlers.ofString());
    List<JsonNode> list = new ArrayList<>();
    JSON.readTree(response.body()).path("workers").forEach(list::add);
    return list;
  }

  /** Polls the run until {@code condition} holds; the last state seen is in the failure. */
  static JsonNode awaitRun(ApiClient api, String runId, Predicate<JsonNode> condition, Duration timeout)
      throws Exception {
    JsonNode[] last = {null};
    await(() -> {
      try {
        last[0] = api.run(runId);
      } catch (IOException e) {
        return false; // the coordinator may be failing over
      }
      return condition.test(last[0]);
    }, timeout, "run " + runId + " reached the expected state (last seen: " + last[0] + ")");
    return last[0];
  }

  /** Waits until the run has ended, whichever way. */
  static JsonNode awaitEnd(ApiClient api, String runId, Duration timeout) throws Exception {
    return awaitRun(api, runId, run -> List.of("completed", "failed", "stopped").contains(run.path("state").asText()),
        timeout);
  }

  /** Waits until every shard of the run is running and has checkpointed at least at {@code step}. */
  static JsonNode awaitCheckpoints(ApiClient api, String runId, long step, Duration timeout) throws Exception {
    return awaitRun(api, runId, run -> {
      if (run.path("shards").isEmpty()) return false;
      for (JsonNode shard : run.path("shards")) {
        if (!shard.path("state").asText().equals("running") || shard.path("checkpoint_step").asLong() < step) {
          return false;
        }
      }
      return true;
    }, timeout);
  }

  interface Check {
    boolean ok() throws Exception;
  }

  static void await(Check check, Duration timeout, String what) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (check.ok()) return;
      Thread.sleep(100);
    }
    throw new AssertionError("timed out after " + timeout + " waiting: " + what);
  }

  RunFiles files(String runId) {
    return new RunFiles(runsDir.resolve(runId));
  }

  /** The events of {@code type} written so far; empty while the run directory is not there yet. */
  List<JsonNode> eventsSoFar(String runId, String type) {
    return Files.exists(runsDir.resolve(runId).resolve("events.jsonl")) ? files(runId).events(type) : List.of();
  }

  /** Where attempt {@code attempt} of shard {@code shard} writes its checkpoints. */
  Path attemptDir(String runId, int shard, int attempt) {
    return runsDir.resolve(runId).resolve("checkpoints").resolve(Integer.toString(shard)).resolve("attempt-" + attempt);
  }

  /** Every file and directory under {@code dir} (itself included) with its modification time, unix ms. */
  static Map<String, Long> listing(Path dir) {
    Map<String, Long> entries = new TreeMap<>();
    if (!Files.exists(dir)) return entries;
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path path : (Iterable<Path>) paths::iterator) {
        try {
          entries.put(dir.relativize(path).toString(), Files.getLastModifiedTime(path).toMillis());
        } catch (java.nio.file.NoSuchFileException e) {
          // pruned while listed
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return entries;
  }

  /**
   * The checkpoints under an attempt's directory as {@link #listing} gives them: its step directories, their files
   * and the {@code last}/{@code best} pointers, without the directory itself and the temporary directories of saves
   * (never read; a refused save deletes its own).
   */
  static Map<String, Long> checkpoints(Path attemptDir) {
    Map<String, Long> entries = listing(attemptDir);
    entries.keySet().removeIf(path -> path.isEmpty() || path.startsWith(".tmp-"));
    return entries;
  }

  /** The latest modification time in a listing; Long.MIN_VALUE for none. */
  static long lastWrite(Map<String, Long> listing) {
    return listing.values().stream().mapToLong(Long::longValue).max().orElse(Long.MIN_VALUE);
  }

  /** A worker node's id ({@code host:port}) as its log says at start. */
  String workerNodeId(String name) {
    String line = nodes.logText(name).lines().filter(l -> l.contains("quarry worker node up at ")).findFirst()
        .orElseThrow(() -> new AssertionError(name + " has not said where it is up"));
    String rest = line.substring(line.indexOf("quarry worker node up at ") + "quarry worker node up at ".length());
    return rest.substring(0, rest.indexOf(' '));
  }

  /**
   * When the node first logged a line containing {@code text} at or after {@code notBeforeMs}, unix ms, from the log's
   * {@code HH:mm:ss.SSS} (this host's clock and zone); -1 if it has not.
   */
  long loggedMs(String name, String text, long notBeforeMs) {
    java.time.ZoneId zone = java.time.ZoneId.systemDefault();
    java.time.LocalDate day = java.time.Instant.ofEpochMilli(notBeforeMs).atZone(zone).toLocalDate();
    for (String line : nodes.logText(name).lines().filter(l -> l.contains(text)).toList()) {
      java.time.LocalTime time;
      try {
        time = java.time.LocalTime.parse(line.substring(0, 12));
      } catch (RuntimeException e) {
        continue;
      }
      long ms = java.time.ZonedDateTime.of(day, time, zone).toInstant().toEpochMilli();
      if (ms < notBeforeMs - 12 * 3_600_000L) ms += 24 * 3_600_000L; // past midnight
      if (ms >= notBeforeMs) return ms;
    }
    return -1;
  }

  static long unixMs(JsonNode event) {
    return event.path("ts_unix_ns").asLong() / 1_000_000;
  }

  @Override
  public void close() {
    try {
      nodes.close();
    } finally {
      for (NetNamespace ns : namespaces) ns.close();
      namespaces.clear();
    }
  }
}
