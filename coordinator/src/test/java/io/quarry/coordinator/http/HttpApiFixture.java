package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.Coordinator;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.coordinator.InstantWorker;
import io.quarry.protocol.CoordinatorCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * One real coordinator with {@value #WORKERS} {@link InstantWorker}s and the HTTP API on 127.0.0.1 (a free port),
 * shared by the tests of a class; every message between actors is serialized. The API takes two tokens, an
 * {@code operate} one ({@link #api} sends it) and a {@code read} one.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class HttpApiFixture {
  static final int WORKERS = 2;
  static final String OPERATE_TOKEN = "operate-token-for-the-http-tests-0123456789";
  static final String READ_TOKEN = "read-token-for-the-http-tests-0123456789abcd";
  /** Another operate token, with a submission budget of its own. */
  static final String SECOND_OPERATE_TOKEN = "second-operate-token-for-the-http-tests-0123";

  ActorTestKit testKit;
  ActorRef<CoordinatorCommand> coordinator;
  ServerBinding binding;
  ApiClient api;
  Path runsDir;
  Path storeDir;
  RunStore store;

  @BeforeAll
  void startCoordinatorWorkersAndServer() throws Exception {
    runsDir = Files.createTempDirectory("quarry-http-test");
    testKit = ActorTestKit.create(getClass().getSimpleName(), extraConfig()
        .withFallback(ConfigFactory.parseResources("coordinator-test.conf")).withFallback(ConfigFactory.load()));
    // The store lives beside, not inside, the runs directory: the bad-input tests compare its bytes.
    storeDir = Files.createTempDirectory("quarry-http-store");
    store = RunStores.open("sqlite:" + storeDir.resolve("quarry.db"));
    coordinator = testKit.spawn(Coordinator.create(store, runsDir, Clock.systemUTC()), "coordinator",
        Coordinator.DISPATCHER);
    for (int i = 0; i < WORKERS; i++) testKit.spawn(InstantWorker.create("instant-" + i), "instant-" + i);
    Path tokens = Files.writeString(storeDir.resolve("api-tokens"),
        "# test tokens\noperate " + OPERATE_TOKEN + "\nread " + READ_TOKEN + "\noperate " + SECOND_OPERATE_TOKEN + "\n");
    binding = HttpApi.bind(testKit.system(), coordinator, ApiTokens.fromFile(tokens), "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    api = new ApiClient("127.0.0.1", binding.localAddress().getPort(), OPERATE_TOKEN);
    awaitReadyWorkers(WORKERS);
  }

  /** Settings a test class needs on top of coordinator-test.conf. */
  com.typesafe.config.Config extraConfig() {
    return ConfigFactory.empty();
  }

  @AfterAll
  void stopEverything() throws Exception {
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (testKit != null) testKit.shutdownTestKit();
    if (store != null) store.close();
    for (Path dir : new Path[] {runsDir, storeDir}) {
      if (dir == null) continue;
      try (var paths = Files.walk(dir)) {
        paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
      }
    }
  }

  private void awaitReadyWorkers(int count) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      JsonNode workers = api.get("/api/workers").json().get("workers");
      long ready = 0;
      for (JsonNode worker : workers) if (!worker.get("worker_id").isNull()) ready++;
      if (ready >= count) return;
      if (System.nanoTime() > deadline) fail("only " + ready + " of " + count + " workers registered: " + workers);
      Thread.sleep(20);
    }
  }

  /** Submits a run over HTTP and returns its id; fails unless the answer is 201. */
  String submit(String body) throws Exception {
    ApiClient.Answer answer = api.post("/api/runs", body);
    assertEquals(201, answer.status(), answer.body());
    return answer.json().get("run_id").asText();
  }

  /** Polls {@code GET /api/runs/{id}} until the run's state is {@code state}; returns that answer's run. */
  JsonNode awaitState(String runId, String state) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      ApiClient.Answer answer = api.get("/api/runs/" + runId);
      assertEquals(200, answer.status(), answer.body());
      if (state.equals(answer.json().get("state").asText())) {
        // An ended run's plots are drawn off its actor's thread: its directory is final once they are.
        if (io.quarry.protocol.RunState.valueOf(state.toUpperCase(java.util.Locale.ROOT)).isFinal()) {
          io.quarry.coordinator.plots.RunPlotter.get(testKit.system()).awaitIdle(java.time.Duration.ofSeconds(30));
        }
        return answer.json();
      }
      if (System.nanoTime() > deadline) fail("run " + runId + " never reached " + state + ": " + answer.body());
      Thread.sleep(20);
    }
  }
}
