package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cluster membership over {@code tls-tcp}: a node whose key the cluster's trust store does not hold cannot join (the
 * TLS handshake fails both ways, so it never even reaches the cluster's gossip), while a node with the cluster's key
 * joins as usual. The README's secure set-up relies on this.
 */
@Timeout(120)
class TlsMembershipTest {
  @TempDir Path dir;
  private final List<ActorSystem<Void>> nodes = new ArrayList<>();

  @AfterEach
  void shutDown() throws Exception {
    for (ActorSystem<Void> node : nodes) node.terminate();
    for (ActorSystem<Void> node : nodes) node.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  private ActorSystem<Void> node(String role, Path keys) throws Exception {
    Config config = TestKeyStores.tlsConfig(Files.createDirectories(keys))
        .withFallback(ClusterConfig.of("127.0.0.1", 0, List.of(), List.of(role), "tls-tcp"));
    ActorSystem<Void> node = ActorSystem.create(Behaviors.empty(), ClusterConfig.SYSTEM_NAME,
        ConfigFactory.parseResources("application-test.conf").withFallback(config));
    nodes.add(node);
    return node;
  }

  @Test
  void aNodeWithoutTheClustersCertificateIsRefusedAndOneWithItJoins() throws Exception {
    ActorSystem<Void> first = node("coordinator", dir.resolve("cluster-keys"));
    Address seed = Cluster.get(first).selfMember().address();
    Cluster.get(first).manager().tell(Join.create(seed));
    awaitUp(first, 1);

    ActorSystem<Void> stranger = node("worker", dir.resolve("stranger-keys")); // a key store of its own
    Cluster.get(stranger).manager().tell(Join.create(seed));
    ActorSystem<Void> member = node("worker", dir.resolve("cluster-keys"));   // the cluster's key and trust stores
    Cluster.get(member).manager().tell(Join.create(seed));

    awaitUp(first, 2);
    // The stranger has had as long as the member took, and then some: it must still be outside.
    Thread.sleep(5_000);
    assertEquals(2, Cluster.get(first).state().members().size(), "the cluster: " + Cluster.get(first).state().members());
    for (var m : Cluster.get(first).state().getMembers()) {
      assertNotEquals(Cluster.get(stranger).selfMember().address(), m.address(), "the stranger is no member");
    }
    assertNotEquals(MemberStatus.up(), Cluster.get(stranger).selfMember().status(), "the stranger never came up");
  }

  private static void awaitUp(ActorSystem<?> system, int members) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      long up = 0;
      for (var member : Cluster.get(system).state().getMembers()) {
        if (member.status() == MemberStatus.up()) up++;
      }
      if (up >= members) return;
      Thread.sleep(50);
    }
    throw new AssertionError("the cluster did not reach " + members + " members up: " + Cluster.get(system).state().members());
  }
}
