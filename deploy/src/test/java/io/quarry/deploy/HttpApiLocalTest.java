package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP API in local mode, end to end: real workers, the stub trainer, the run directory. */
@Timeout(120)
class HttpApiLocalTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path runsDir;
  private LocalCluster cluster;
  private ServerBinding binding;
  private final HttpClient http = HttpClient.newHttpClient();

  @AfterEach
  void shutDown() throws Exception {
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (cluster != null) cluster.close();
  }

  private String token;

  @Test
  void aRunSubmittedOverHttpTrainsToCompletion() throws Exception {
    cluster = LocalCluster.start(2, runsDir, ConfigFactory.parseResources("application-test.conf"));
    // The token file a coordinator makes at its first start, with its one operate token.
    ApiTokens tokens = ApiTokens.fromFile(ApiTokens.ensureDefaultFile(runsDir));
    token = ApiClient.token(null, java.util.Map.of("QUARRY_RUNS_DIR", runsDir.toString()));
    binding = HttpApi.bind(cluster.system(), cluster.coordinator(), tokens, "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    String base = "http://127.0.0.1:" + binding.localAddress().getPort();

    HttpResponse<String> submitted = send(HttpRequest.newBuilder(URI.create(base + "/api/runs"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"config\": \"stub.samples = 400\\nepochs = 2\","
            + " \"overrides\": [\"stub.step-time=0\", \"batch-size=20\", \"checkpoint.every-steps=5\"],"
            + " \"run_id\": \"over-http\"}")));
    assertEquals(201, submitted.statusCode(), submitted.body());
    assertEquals("over-http", JSON.readTree(submitted.body()).get("run_id").asText());

    JsonNode run = awaitCompleted(base + "/api/runs/over-http");
    assertEquals(40, run.get("total_steps").asLong(), "2 shards x 200 samples / 20 per batch x 2 epochs");
    assertEquals(run.get("total_steps").asLong(), run.get("steps").asLong());
    assertEquals(1.0, run.get("progress").asDouble());
    assertTrue(run.get("last_loss").isNumber(), "the stub trainer reported a loss: " + run);
    assertTrue(run.get("merges").asInt() >= 1, "the final merge ran");
    JsonNode shards = run.get("shards");
    assertEquals(2, shards.size());
    for (JsonNode shard : shards) {
      assertEquals("done", shard.get("state").asText(), shard.toString());
      assertEquals(shard.get("total_steps").asLong(), shard.get("step").asLong(), shard.toString());
      assertEquals(20, shard.get("step").asLong());
      assertEquals(1, shard.get("attempt").asInt());
    }
    assertEquals(2, run.get("workers").size(), run.toString());

    JsonNode listed = JSON.readTree(send(HttpRequest.newBuilder(URI.create(base + "/api/runs")).GET()).body());
    assertEquals("over-http", listed.get("runs").get(0).get("run_id").asText());
    JsonNode completed = new RunFiles(runsDir.resolve("over-http")).runCompleted();
    assertEquals("completed", completed.get("status").asText());
    assertEquals(40, completed.get("steps").asLong());
    assertTrue(Files.isRegularFile(runsDir.resolve("over-http/run.conf")));
  }

  private JsonNode awaitCompleted(String url) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      HttpResponse<String> answer = send(HttpRequest.newBuilder(URI.create(url)).GET());
      assertEquals(200, answer.statusCode(), answer.body());
      JsonNode run = JSON.readTree(answer.body());
      String state = run.get("state").asText();
      if (state.equals("completed")) return run;
      if (!state.equals("pending") && !state.equals("running")) fail("the run ended " + state + ": " + answer.body());
      if (System.nanoTime() > deadline) fail("the run did not complete: " + answer.body());
      Thread.sleep(50);
    }
  }

  private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
    request.header("Authorization", "Bearer " + token);
    return http.send(request.timeout(java.time.Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
