package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Prometheus server (Debian's {@code prometheus}, installed by scripts/install-test-deps.sh) scrapes a
 * coordinator's {@code /metrics} every second with a {@code read} token during a stub run; its query API sees the
 * run's {@code quarry_} series and a step counter that grows; once the run has ended its series are gone.
 */
@Timeout(180)
class PrometheusScrapeTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String READ_TOKEN = "read-token-of-the-prometheus-test-0123456789";
  private static final String RUN = "scraped";

  @TempDir Path tmp;
  private LocalCluster cluster;
  private ServerBinding binding;
  private Process prometheus;
  private final HttpClient http = HttpClient.newHttpClient();

  @AfterEach
  void shutDown() throws Exception {
    if (prometheus != null) {
      prometheus.destroy();
      if (!prometheus.waitFor(20, TimeUnit.SECONDS)) prometheus.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (cluster != null) cluster.close();
  }

  @Test
  void prometheusScrapesAGrowingStepCounterOfARunAndItsSeriesGoWhenItEnds() throws Exception {
    Path runsDir = tmp.resolve("runs");
    cluster = LocalCluster.start(2, runsDir, ConfigFactory.parseResources("application-test.conf"));
    Path tokens = Files.writeString(tmp.resolve("api-tokens"), "operate operate-token-0123456789abcdef\nread "
        + READ_TOKEN + "\n");
    binding = HttpApi.bind(cluster.system(), cluster.coordinator(), ApiTokens.fromFile(tokens), "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    int coordinatorPort = binding.localAddress().getPort();
    String prometheusUrl = startPrometheus(coordinatorPort);

    // Long enough to be scraped many times; stopped once Prometheus has seen it grow.
    SubmitReply reply = cluster.submit(new RunSpec(RUN, io.quarry.config.RunConfig.fromOverrides(List.of(
        "stub.samples=2000", "batch-size=20", "epochs=50", "stub.step-time=20ms", "checkpoint.every-steps=20"),
        Map.of()).toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply::toString);

    List<Double> seen = new ArrayList<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (seen.size() < 2 || seen.get(seen.size() - 1) <= seen.get(0)) {
      if (System.nanoTime() > deadline) fail("Prometheus never saw the run's steps grow: " + seen);
      JsonNode result = query(prometheusUrl, "sum(quarry_worker_steps_trained_total{run_id=\"" + RUN + "\"})");
      if (result.size() == 1) {
        double value = result.get(0).get("value").get(1).asDouble();
        if (seen.isEmpty() || value != seen.get(seen.size() - 1)) seen.add(value);
      }
      Thread.sleep(500);
    }
    JsonNode shards = query(prometheusUrl, "quarry_shards{run_id=\"" + RUN + "\",state=\"running\"}");
    assertEquals(1, shards.size(), shards.toString());
    JsonNode progress = query(prometheusUrl, "quarry_run_steps{run_id=\"" + RUN + "\"} / quarry_run_total_steps");
    assertEquals(1, progress.size(), "the run's progress, as a person would ask for it: " + progress);
    assertEquals(1, query(prometheusUrl, "quarry_run_step_duration_seconds_count{run_id=\"" + RUN + "\"} > 0").size());
    assertFalse(query(prometheusUrl, "jvm_memory_used_bytes").isEmpty(), "the coordinator JVM's own metrics");

    cluster.stop(RUN, "seen growing").toCompletableFuture().get(30, TimeUnit.SECONDS);
    RunSummary summary = cluster.follow(RUN, p -> {}).get(60, TimeUnit.SECONDS);
    assertEquals(RunState.STOPPED, summary.status());
    String text = scrape(coordinatorPort);
    assertFalse(text.contains("run_id=\"" + RUN + "\""), "an ended run has no series: " + text);
    assertTrue(text.contains("quarry_runs{state=\"stopped\"} 1"), text);
    while (!query(prometheusUrl, "quarry_run_steps{run_id=\"" + RUN + "\"}").isEmpty()) {
      if (System.nanoTime() > deadline) fail("Prometheus still has the ended run's series");
      Thread.sleep(500);
    }
    assertEquals(1.0, query(prometheusUrl, "quarry_runs{state=\"stopped\"}").get(0).get("value").get(1).asDouble());
  }

  /** Starts Prometheus scraping the coordinator's {@code /metrics} every second with the read token; its URL. */
  private String startPrometheus(int coordinatorPort) throws Exception {
    Path credentials = Files.writeString(tmp.resolve("scrape-token"), READ_TOKEN + "\n");
    Path config = Files.writeString(tmp.resolve("prometheus.yml"), String.join("\n",
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: quarry",
        "    metrics_path: /metrics",
        "    authorization:",
        "      credentials_file: " + credentials,
        "    static_configs:",
        "      - targets: ['127.0.0.1:" + coordinatorPort + "']",
        ""));
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    prometheus = new ProcessBuilder("prometheus", "--config.file=" + config,
        "--storage.tsdb.path=" + tmp.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + port)
        .redirectErrorStream(true).redirectOutput(tmp.resolve("prometheus.log").toFile()).start();
    String url = "http://127.0.0.1:" + port;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      try {
        if (http.send(HttpRequest.newBuilder(URI.create(url + "/-/ready")).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode() == 200) {
          return url;
        }
      } catch (java.io.IOException notYet) {
        // Not listening yet.
      }
      if (!prometheus.isAlive() || System.nanoTime() > deadline) {
        fail("Prometheus did not start: " + Files.readString(tmp.resolve("prometheus.log")));
      }
      Thread.sleep(200);
    }
  }

  /** The result vector of an instant PromQL query. */
  private JsonNode query(String prometheusUrl, String promql) throws Exception {
    HttpResponse<String> answer = http.send(HttpRequest.newBuilder(URI.create(prometheusUrl + "/api/v1/query?query="
        + URLEncoder.encode(promql, StandardCharsets.UTF_8))).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, answer.statusCode(), answer.body());
    JsonNode body = JSON.readTree(answer.body());
    assertEquals("success", body.get("status").asText(), answer.body());
    return body.get("data").get("result");
  }

  private String scrape(int coordinatorPort) throws Exception {
    HttpResponse<String> answer = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + coordinatorPort
        + "/metrics")).header("Authorization", "Bearer " + READ_TOKEN).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, answer.statusCode(), answer.body());
    return answer.body();
  }
}
