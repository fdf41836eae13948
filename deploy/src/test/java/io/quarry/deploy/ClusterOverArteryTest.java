package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.Coordinator;
import io.quarry.coordinator.store.RunStore;
import io.quarry.coordinator.store.RunStores;
import io.quarry.protocol.CoordinatorCommand;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.config.RunConfig;
import io.quarry.worker.Worker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coordinator in one actor system and the workers in another, joined into a Pekko cluster over Artery TCP on
 * 127.0.0.1: every message between them crosses the wire through the Kryo serializer.
 */
@Timeout(120)
class ClusterOverArteryTest {
  @TempDir Path runsDir;
  private ActorSystem<Void> coordinatorNode;
  private ActorSystem<Void> workerNode;
  private RunStore store;

  @AfterEach
  void shutDown() throws Exception {
    for (ActorSystem<Void> node : new ActorSystem[] {workerNode, coordinatorNode}) {
      if (node != null) {
        node.terminate();
        node.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
    if (store != null) store.close();
  }

  private static ActorSystem<Void> node(String role) {
    Config config = ConfigFactory.parseString(String.join("\n",
            "pekko.actor.provider = cluster",
            "pekko.remote.artery.transport = tcp",
            "pekko.remote.artery.canonical.hostname = 127.0.0.1",
            "pekko.remote.artery.canonical.port = 0",
            "pekko.cluster.roles = [" + role + "]",
            "pekko.cluster.jmx.multi-mbeans-in-same-jvm = on"))
        .withFallback(ConfigFactory.parseResources("application-test.conf"))
        .withFallback(ConfigFactory.load());
    return ActorSystem.create(Behaviors.empty(), "quarry", config);
  }

  @Test
  void aRunCompletesWithTheCoordinatorAndTheWorkersInSeparateActorSystems() throws Exception {
    coordinatorNode = node("coordinator");
    workerNode = node("worker");
    Address seed = Cluster.get(coordinatorNode).selfMember().address();
    Cluster.get(coordinatorNode).manager().tell(Join.create(seed));
    Cluster.get(workerNode).manager().tell(Join.create(seed));
    awaitUp(coordinatorNode, 2);

    store = RunStores.open("sqlite:" + runsDir.resolve("quarry.db"));
    ActorRef<CoordinatorCommand> coordinator = Coordinator.singleton(coordinatorNode, store, runsDir);
    for (int i = 0; i < 2; i++) {
      workerNode.systemActorOf(Worker.create("remote-" + i, "cpu"), "worker-" + i, Props.empty());
    }
    RunClient client = new RunClient(coordinatorNode, coordinator);
    client.awaitWorkers(2, Duration.ofSeconds(30));

    String hocon = RunConfig.fromOverrides(
        List.of("stub.samples=2000", "stub.step-time=1ms", "epochs=2", "hard-examples.merge-interval=200ms",
            "hard-examples.window=run"), Map.of())
        .toHocon();
    SubmitReply reply = client.submit(new RunSpec("over-artery", hocon)).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply.toString());
    RunSummary summary = client.follow("over-artery", p -> {}).get(90, TimeUnit.SECONDS);

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    assertEquals(2 * 32 * 2, summary.steps(), "2 shards x ceil(1000/32) steps x 2 epochs");
    RunFiles files = new RunFiles(runsDir.resolve("over-artery"));
    Set<String> trainedBy = new HashSet<>();
    files.events("shard_completed").forEach(e -> trainedBy.add(e.get("worker_id").asText()));
    assertEquals(Set.of("remote-0", "remote-1"), trainedBy);
    assertFalse(files.events("step").isEmpty(), "telemetry crossed the wire");
    List<JsonNode> merges = files.merges();
    assertFalse(merges.isEmpty());
    JsonNode last = merges.get(merges.size() - 1);
    assertEquals(2, last.get("workers").size(), "both remote workers answered the final merge");
    assertEquals(128, last.get("entries").size());
    assertNotEquals(Cluster.get(coordinatorNode).selfMember().address(), Cluster.get(workerNode).selfMember().address());
  }

  private static void awaitUp(ActorSystem<?> system, int members) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      long up = 0;
      for (var member : Cluster.get(system).state().getMembers()) {
        if (member.status() == MemberStatus.up()) up++;
      }
      if (up >= members) return;
      Thread.sleep(50);
    }
    throw new AssertionError("the cluster did not form");
  }

}
