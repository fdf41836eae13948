package io.quarry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import io.quarry.coordinator.http.dashboard.DashboardServer;
import io.quarry.deploy.LocalCluster;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunSummary;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.Writer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The dashboard's benchmarks (bench/dashboard.sh; results in BENCHMARKS.md):
 *
 * <ul>
 *   <li>{@code latency SECONDS}: from a step on a worker (its telemetry timestamp) to its point drawn on an open run
 *       page in headless Chromium, every step's, p50/p95 — and, as the reference in the same run, to the same rows'
 *       arrival at a plain SSE client (what the server adds, without the browser);
 *   <li>{@code render ROWS ROUNDS}: first render of a run page (navigation start to its charts drawn) of a run with
 *       ROWS scalar rows, served by {@code quarry dashboard}'s server, cold (a run not read before) and warm; the
 *       reference is the same with 2,000 rows;
 *   <li>{@code followers CLIENTS ROUNDS SAMPLES [STEP_TIME | djl]}: a run's steps/s with CLIENTS live streams
 *       (curl processes, as browsers are other processes) following it versus none, in alternating order after a
 *       warm-up pair, measured over the middle of each run (a quarter to nine tenths of its steps): the stub paced at
 *       STEP_TIME, or the DJL trainer's CNN on SAMPLES synthetic shapes (CPU-bound, in this JVM).
 * </ul>
 */
public final class DashboardBenchmark {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final com.sun.management.OperatingSystemMXBean PROCESS =
      (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

  private DashboardBenchmark() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    switch (args.length == 0 ? "" : args[0]) {
      case "latency" -> latency(args.length > 1 ? Integer.parseInt(args[1]) : 30);
      case "render" -> render(args.length > 1 ? Integer.parseInt(args[1]) : 200_000, args.length > 2 ? Integer.parseInt(args[2]) : 5);
      case "followers" -> followers(args.length > 1 ? Integer.parseInt(args[1]) : 50,
          args.length > 2 ? Integer.parseInt(args[2]) : 5, args.length > 3 ? Long.parseLong(args[3]) : 4_000_000,
          args.length > 4 ? args[4] : "0");
      default -> {
        System.err.println("usage: DashboardBenchmark latency SECONDS | render ROWS ROUNDS | followers CLIENTS ROUNDS SAMPLES [STEP_TIME]");
        System.exit(2);
      }
    }
    System.exit(0);
  }

  // --- step to page ---

  static void latency(int seconds) throws Exception {
    Path tmp = Files.createTempDirectory("quarry-bench-dash");
    String token = ApiTokens.newToken();
    try (LocalCluster cluster = LocalCluster.start(4, tmp.resolve("runs"), ConfigFactory.empty())) {
      ServerBinding binding = HttpApi.bind(cluster.system(), cluster.coordinator(),
          ApiTokens.single(ApiTokens.Role.OPERATE, token), "127.0.0.1", 0).toCompletableFuture().get(30, TimeUnit.SECONDS);
      String base = "http://127.0.0.1:" + binding.localAddress().getPort();
      submit(cluster, "latency", "stub.samples=100000000", "stub.step-time=20ms", "epochs=1");
      List<Long> sse = new CopyOnWriteArrayList<>();
      Thread follower = follow(base + "/api/runs/latency/live", token, update -> {
        long now = System.currentTimeMillis();
        for (JsonNode chunk : update.path("rows")) {
          for (JsonNode t : chunk.path("t")) sse.add(now - t.asLong());
        }
      });
      ChromeDriver chrome = chrome();
      try {
        chrome.get(base + "/login?token=" + token);
        chrome.get(base + "/runs/latency");
        Thread.sleep(seconds * 1000L);
        @SuppressWarnings("unchecked")
        List<Object> page = (List<Object>) ((JavascriptExecutor) chrome).executeScript("return window.quarryLatencyMs || [];");
        List<Long> pageMs = page.stream().map(value -> ((Number) value).longValue()).toList();
        report("step to page (drawn)", pageMs);
        report("step to SSE client (reference)", sse);
        System.out.printf("ratio p95 page / p95 SSE client: %.2f%n", percentile(pageMs, 95) / percentile(sse, 95));
      } finally {
        chrome.quit();
        follower.interrupt();
        cluster.stop("latency", "benchmark over").toCompletableFuture().get(10, TimeUnit.SECONDS);
        binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
      }
    }
  }

  // --- first render ---

  static void render(int rows, int rounds) throws Exception {
    Path runs = Files.createTempDirectory("quarry-bench-render");
    for (int round = 0; round < rounds; round++) {
      writeRun(runs.resolve("big-" + round), rows);
      writeRun(runs.resolve("small-" + round), 2_000);
    }
    String token = ApiTokens.newToken();
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "bench",
        ConfigFactory.parseString("pekko.actor.provider = local\npekko.loglevel = WARNING").withFallback(ConfigFactory.load()));
    ServerBinding binding = DashboardServer.bind(system, runs, ApiTokens.single(ApiTokens.Role.READ, token), "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    String base = "http://127.0.0.1:" + binding.localAddress().getPort();
    ChromeDriver chrome = chrome();
    try {
      chrome.get(base + "/login?token=" + token);
      firstRender(chrome, base, "small-0");
      List<Long> bigCold = new ArrayList<>();
      List<Long> bigWarm = new ArrayList<>();
      List<Long> smallCold = new ArrayList<>();
      List<Long> smallWarm = new ArrayList<>();
      for (int round = 0; round < rounds; round++) {
        bigCold.add(firstRender(chrome, base, "big-" + round));
        bigWarm.add(firstRender(chrome, base, "big-" + round));
        smallCold.add(firstRender(chrome, base, "small-" + round));
        smallWarm.add(firstRender(chrome, base, "small-" + round));
      }
      System.out.printf("first render, %d rows: cold median %d ms %s, warm median %d ms %s%n", rows, median(bigCold),
          bigCold, median(bigWarm), bigWarm);
      System.out.printf("first render, 2000 rows (reference): cold median %d ms %s, warm median %d ms %s%n",
          median(smallCold), smallCold, median(smallWarm), smallWarm);
      System.out.printf("ratio cold %d rows / 2000 rows: %.2f; warm: %.2f%n", rows,
          (double) median(bigCold) / median(smallCold), (double) median(bigWarm) / median(smallWarm));
      long bytes = Files.size(runs.resolve("big-0").resolve("scalars.csv"));
      System.out.printf("scalars.csv of %d rows: %.1f MB%n", rows, bytes / 1e6);
    } finally {
      chrome.quit();
      system.terminate();
    }
  }

  /** Opens a run page and returns the milliseconds from navigation start to its charts drawn. */
  private static long firstRender(ChromeDriver chrome, String base, String runId) throws InterruptedException {
    chrome.get(base + "/runs/" + runId);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      Object value = ((JavascriptExecutor) chrome).executeScript("return window.quarryFirstRenderMs;");
      if (value instanceof Number number) return Math.round(number.doubleValue());
      Thread.sleep(10);
    }
    throw new IllegalStateException("the page of " + runId + " never drew its charts");
  }

  /** A finished run of {@code rows} scalar rows over 4 shards (train, and a val row every 1000 steps). */
  private static void writeRun(Path dir, int rows) throws Exception {
    Files.createDirectories(dir);
    String runId = dir.getFileName().toString();
    Files.writeString(dir.resolve("run.conf"), RunConfig.fromOverrides(List.of(), Map.of()).toHocon());
    long t0 = 1_700_000_000_000_000_000L;
    int shards = 4;
    long steps = rows / shards;
    try (Writer out = Files.newBufferedWriter(dir.resolve("scalars.csv"))) {
      out.write("step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns\n");
      java.util.Random random = new java.util.Random(7);
      int written = 0;
      for (long step = 0; step < steps && written < rows; step++) {
        for (int shard = 0; shard < shards && written < rows; shard++, written++) {
          float loss = (float) (2.0 * Math.exp(-step / (double) steps * 3) + 0.2 * random.nextDouble());
          out.write(step + ",0,local-" + shard + "," + shard + ",train," + loss + ",0.01,1600.0,," + (t0 + step * 20_000_000L) + "\n");
        }
      }
    }
    long endNs = t0 + steps * 20_000_000L;
    try (Writer out = Files.newBufferedWriter(dir.resolve("events.jsonl"))) {
      out.write("{\"type\":\"run_submitted\",\"ts\":\"2023-11-14T22:13:20Z\",\"ts_unix_ns\":" + t0 + ",\"run_id\":\""
          + runId + "\",\"name\":\"\",\"trainer\":\"stub\",\"shards\":4,\"total_steps\":" + rows + ",\"telemetry\":true}\n");
      out.write("{\"type\":\"run_started\",\"ts\":\"2023-11-14T22:13:20Z\",\"ts_unix_ns\":" + t0 + ",\"run_id\":\"" + runId + "\"}\n");
      out.write("{\"type\":\"run_completed\",\"ts\":\"2023-11-14T22:13:20Z\",\"ts_unix_ns\":" + endNs + ",\"run_id\":\""
          + runId + "\",\"status\":\"completed\",\"steps\":" + rows + ",\"total_steps\":" + rows
          + ",\"samples\":" + rows * 32L + ",\"wall_ms\":" + (endNs - t0) / 1_000_000 + ",\"counters\":{}}\n");
    }
    Files.writeString(dir.resolve("hard_examples.jsonl"), "");
  }

  // --- steps/s with followers ---

  static void followers(int clients, int rounds, long samples, String stepTime) throws Exception {
    Path tmp = Files.createTempDirectory("quarry-bench-followers");
    String token = ApiTokens.newToken();
    try (LocalCluster cluster = LocalCluster.start(4, tmp.resolve("runs"), ConfigFactory.empty())) {
      ServerBinding binding = HttpApi.bind(cluster.system(), cluster.coordinator(),
          ApiTokens.single(ApiTokens.Role.OPERATE, token), "127.0.0.1", 0).toCompletableFuture().get(30, TimeUnit.SECONDS);
      String base = "http://127.0.0.1:" + binding.localAddress().getPort();
      List<Double> none = new ArrayList<>();
      List<Double> followed = new ArrayList<>();
      // A warm-up pair first (not counted: the JIT, DJL's engine), then pairs in alternating order (ABBA), so that a
      // drift of the machine's load or of the JIT falls on both sides alike.
      stepsPerSecond(cluster, base, token, "warmup-none", 0, samples, stepTime);
      stepsPerSecond(cluster, base, token, "warmup-followed", clients, samples, stepTime);
      for (int round = 0; round < rounds; round++) {
        if (round % 2 == 0) {
          none.add(stepsPerSecond(cluster, base, token, "none-" + round, 0, samples, stepTime));
          followed.add(stepsPerSecond(cluster, base, token, "followed-" + round, clients, samples, stepTime));
        } else {
          followed.add(stepsPerSecond(cluster, base, token, "followed-" + round, clients, samples, stepTime));
          none.add(stepsPerSecond(cluster, base, token, "none-" + round, 0, samples, stepTime));
        }
        System.out.printf("round %d: none %.1f steps/s, %d followers %.1f steps/s (ratio %.3f)%n", round + 1,
            none.get(round), clients, followed.get(round), followed.get(round) / none.get(round));
      }
      double medianNone = medianDouble(none);
      double medianFollowed = medianDouble(followed);
      List<Double> ratios = new ArrayList<>();
      for (int round = 0; round < rounds; round++) ratios.add(followed.get(round) / none.get(round));
      System.out.printf("median steps/s: none %.1f, with %d followers %.1f; ratio %.3f; median of the rounds' ratios"
          + " %.3f%n", medianNone, clients, medianFollowed, medianFollowed / medianNone, medianDouble(ratios));
      binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static double stepsPerSecond(LocalCluster cluster, String base, String token, String runId, int clients,
      long samples, String stepTime) throws Exception {
    if (stepTime.equals("djl")) {
      // A real model, CPU-bound in this JVM: the default job's CNN on synthetic shapes. No PNG plots at the end: they
      // would be drawn while the next run starts (and the run directory is deleted under them).
      submit(cluster, runId, "trainer=djl", "dataset.format=synthetic", "dataset.synthetic=shapes",
          "dataset.samples=" + samples, "model.type=cnn", "model.channels=[8,16]", "model.hidden=[64]", "epochs=1",
          "batch-size=32", "plots.enabled=false");
    } else {
      submit(cluster, runId, "stub.samples=" + samples, "stub.step-time=" + stepTime, "epochs=1",
          "checkpoint.every-steps=100000", "plots.enabled=false");
    }
    // The followers are other processes (curl), as browsers are: what is measured is what following costs the server.
    List<Process> followers = new ArrayList<>();
    Path received = Files.createTempFile("quarry-bench-sse", ".txt");
    for (int i = 0; i < clients; i++) {
      followers.add(new ProcessBuilder("curl", "-sN", "-H", "Authorization: Bearer " + token,
          base + "/api/runs/" + runId + "/live").redirectOutput(i == 0 ? received.toFile() : new File("/dev/null"))
          .redirectErrorStream(true).start());
    }
    // Steps/s over the middle of the run (from a quarter of its steps to nine tenths), from its progress reports: not
    // the start of the run nor of the followers' processes, which are the benchmark's own costs.
    List<long[]> marks = new CopyOnWriteArrayList<>();
    long cpuBeforeNs = PROCESS.getProcessCpuTime();
    long wallBeforeNs = System.nanoTime();
    RunSummary summary = cluster.follow(runId, progress -> {
      if (progress.totalSteps() > 0 && progress.steps() >= progress.totalSteps() / 4
          && progress.steps() <= progress.totalSteps() * 9 / 10) {
        marks.add(new long[] {progress.steps(), progress.elapsedMs()});
      }
    }).get(10, TimeUnit.MINUTES);
    double wallS = (System.nanoTime() - wallBeforeNs) / 1e9;
    // CPU of this JVM (training and serving) and of the followers' processes, per second of the run: what following
    // costs in CPU, beside what it costs the run's steps/s.
    double jvmCores = (PROCESS.getProcessCpuTime() - cpuBeforeNs) / 1e9 / wallS;
    double followerCpuS = 0;
    for (Process follower : followers) {
      followerCpuS += follower.info().totalCpuDuration().map(d -> d.toNanos() / 1e9).orElse(0.0);
    }
    for (Process follower : followers) follower.destroy();
    for (Process follower : followers) follower.waitFor(10, TimeUnit.SECONDS);
    System.out.printf("  %s: %.1f s, this JVM used %.2f cores", runId, wallS, jvmCores);
    if (clients > 0) {
      long updates = Files.readAllLines(received).stream().filter(line -> line.startsWith("data:")).count();
      System.out.printf(", the %d followers %.2f cores; each received about %d updates (%d bytes)", clients,
          followerCpuS / wallS, updates, Files.size(received));
    }
    System.out.println();
    Files.deleteIfExists(received);
    try (var paths = Files.walk(Path.of(summary.runDir()))) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
    }
    if (marks.size() < 2 || marks.get(marks.size() - 1)[1] == marks.get(0)[1]) {
      throw new IllegalStateException("run " + runId + " is too short to measure between its progress reports: more"
          + " samples");
    }
    long[] first = marks.get(0);
    long[] last = marks.get(marks.size() - 1);
    return (last[0] - first[0]) / ((last[1] - first[1]) / 1000.0);
  }

  // --- plumbing ---

  private static void submit(LocalCluster cluster, String runId, String... overrides) throws Exception {
    RunConfig config = RunConfig.fromOverrides(List.of(overrides), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(60, TimeUnit.SECONDS);
    if (!(reply instanceof SubmitReply.Accepted)) throw new IllegalStateException("rejected: " + reply);
  }

  /** A thread reading the server-sent events at {@code url}, handing each update's JSON to {@code onUpdate}. */
  private static Thread follow(String url, String token, java.util.function.Consumer<JsonNode> onUpdate) {
    Thread thread = new Thread(() -> {
      try {
        HttpResponse<java.io.InputStream> response = HTTP.send(HttpRequest.newBuilder(URI.create(url))
            .header("Authorization", "Bearer " + token).header("Accept", "text/event-stream").GET().build(),
            HttpResponse.BodyHandlers.ofInputStream());
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
          for (String line = in.readLine(); line != null && !Thread.currentThread().isInterrupted(); line = in.readLine()) {
            if (line.startsWith("data:")) onUpdate.accept(JSON.readTree(line.substring(5).strip()));
          }
        }
      } catch (Exception e) {
        // Interrupted or closed: the benchmark is over for this follower.
      }
    }, "sse-follower");
    thread.setDaemon(true);
    thread.start();
    return thread;
  }

  private static ChromeDriver chrome() {
    ChromeOptions options = new ChromeOptions();
    options.setBinary(new File("/usr/bin/chromium"));
    options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1440,1000", "--disable-extensions", "--disable-background-networking");
    ChromeDriverService service = new ChromeDriverService.Builder()
        .usingDriverExecutable(new File("/usr/bin/chromedriver")).usingAnyFreePort().build();
    ChromeDriver driver = new ChromeDriver(service, options);
    driver.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(60));
    return driver;
  }

  private static void report(String what, List<Long> values) {
    if (values.isEmpty()) {
      System.out.println(what + ": no samples");
      return;
    }
    System.out.printf("%s: n=%d p50 %.0f ms, p95 %.0f ms, max %d ms%n", what, values.size(), percentile(values, 50),
        percentile(values, 95), Collections.max(values));
  }

  private static double percentile(List<Long> values, int pct) {
    List<Long> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    int index = (int) Math.ceil(pct / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
  }

  private static long median(List<Long> values) {
    List<Long> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }

  private static double medianDouble(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }
}
