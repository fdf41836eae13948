package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.Coordinator;
import io.quarry.coordinator.store.EmbeddedPostgresServer;
import io.quarry.coordinator.store.RunRecord;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.worker.Worker;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A run survives a coordinator restart: the first coordinator records the run in the store and is stopped
 * mid-run; a second one, on the same store, takes a larger incarnation, recovers the run, and the workers —
 * which kept training — hand their running attempts over to it. Against SQLite and a real PostgreSQL server.
 */
@Timeout(180)
class CoordinatorRestartTest {
  private static EmbeddedPostgresServer postgres;

  @TempDir Path runsDir;
  private ActorTestKit testKit;
  private RunStore store;

  @BeforeAll
  static void startPostgres() {
    postgres = EmbeddedPostgresServer.start();
  }

  @AfterAll
  static void stopPostgres() throws Exception {
    if (postgres != null) postgres.close();
  }

  @AfterEach
  void shutDown() {
    if (testKit != null) testKit.shutdownTestKit();
    if (store != null) store.close();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"sqlite", "postgresql"})
  void aRunSurvivesACoordinatorRestart(String storeKind) throws Exception {
    String url = storeKind.equals("sqlite") ? "sqlite:" + runsDir.resolve("quarry.db") : postgres.createDatabase();
    store = RunStores.open(url);
    testKit = ActorTestKit.create("quarry", ConfigFactory.parseResources("application-test.conf")
        .withFallback(ConfigFactory.load()));
    for (int i = 0; i < 2; i++) testKit.spawn(Worker.create("w" + i, "cpu"), "w" + i);

    ActorRef<CoordinatorCommand> first =
        testKit.spawn(Coordinator.create(store, runsDir, Clock.systemUTC()), "coordinator-1", Coordinator.DISPATCHER);
    RunClient client = new RunClient(testKit.system(), first);
    client.awaitWorkers(2, Duration.ofSeconds(30));
    String hocon = RunConfig.fromOverrides(List.of("stub.samples=1000", "stub.step-time=15ms", "batch-size=10",
        "epochs=2", "checkpoint.every-steps=10", "hard-examples.merge-interval=300ms"), Map.of()).toHocon();
    SubmitReply reply = client.submit(new RunSpec("survivor", hocon)).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply.toString());
    CountDownLatch midRun = new CountDownLatch(1);
    client.follow("survivor", p -> {
      if (p.steps() >= 40) midRun.countDown();
    });
    assertTrue(midRun.await(60, TimeUnit.SECONDS), "the run reached mid-run");

    testKit.stop(first);
    RunRecord recorded = store.run("survivor").orElseThrow();
    assertEquals(RunState.RUNNING, recorded.status(), "the store knows the run was running");

    ActorRef<CoordinatorCommand> second =
        testKit.spawn(Coordinator.create(store, runsDir, Clock.systemUTC()), "coordinator-2", Coordinator.DISPATCHER);
    RunSummary summary = new RunClient(testKit.system(), second).follow("survivor", p -> {})
        .get(120, TimeUnit.SECONDS);

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(2 * 50 * 2, summary.steps(), "2 shards x 50 steps x 2 epochs");
    assertEquals(2000, summary.samples(), "every sample of both epochs, counted once");
    assertEquals(0, summary.stepsRedone(), "both running attempts were handed over, nothing was redone");
    RunFiles files = new RunFiles(runsDir.resolve("survivor"));
    assertEquals(1, files.events("run_recovered").size());
    List<JsonNode> adopted = files.events("shard_adopted");
    assertEquals(2, adopted.size(), "both workers handed their running attempt over");
    assertEquals(List.of(0, 1), files.events("shard_completed").stream().map(e -> e.get("shard").asInt()).sorted()
        .collect(Collectors.toList()), "each shard completed exactly once");
    assertEquals("completed", files.runCompleted().get("status").asText());
    assertEquals(RunState.COMPLETED, store.run("survivor").orElseThrow().status());
    long steps = files.events("step").size();
    assertEquals(200, steps + files.runCompleted().get("dropped_events").asLong(),
        "every step event written once or counted as dropped");
  }
}
