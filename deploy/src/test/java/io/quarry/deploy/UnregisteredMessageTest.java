package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.QuarryMessage;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.serialization.ProtocolRegistry;
import io.quarry.protocol.serialization.QuarryKryoSerializer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.testkit.typed.javadsl.LoggingTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A message whose class is not in {@link ProtocolRegistry}, sent from node A to an actor on node B over Artery
 * TCP: it never reaches the actor, an error is logged, the association between the nodes stays up and a registered
 * message sent right after it arrives.
 */
@Timeout(60)
class UnregisteredMessageTest {
  /** A Quarry message that nobody listed in the registry. */
  record NotInTheRegistry(String text) implements QuarryMessage {}

  private final List<ActorSystem<?>> nodes = new ArrayList<>();
  private final BlockingQueue<QuarryMessage> received = new LinkedBlockingQueue<>();

  @AfterEach
  void shutDown() throws Exception {
    for (int i = nodes.size() - 1; i >= 0; i--) {
      nodes.get(i).terminate();
      nodes.get(i).getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void theSenderRefusesAnUnregisteredClassWithAnErrorNamingItAndLaterMessagesStillArrive() throws Exception {
    ActorSystem<Void> nodeA = node(ConfigFactory.empty());
    ActorSystem<QuarryMessage> nodeB = receiverNode();
    ActorRef<QuarryMessage> receiverOnB = join(nodeA, nodeB);

    LoggingTestKit.error("Failed to serialize message")
        .withCustom(event -> event.message().contains(NotInTheRegistry.class.getName())
            && causeNames(event.getThrowable(), NotInTheRegistry.class.getName()))
        .expect(nodeA, () -> {
          receiverOnB.tell(new NotInTheRegistry("must not cross the wire"));
          return null;
        });
    receiverOnB.tell(RunCommand.TelemetryAck.INSTANCE);

    assertEquals(RunCommand.TelemetryAck.INSTANCE, received.poll(20, TimeUnit.SECONDS),
        "the registered message sent after the refused one arrives, and nothing before it");
    assertAssociationUp(nodeA, nodeB);
  }

  @Test
  void theReceiverDropsAClassItHasNotRegisteredWithAnErrorAndLaterMessagesStillArrive() throws Exception {
    // Node A runs a newer protocol (its serializer knows one more class, under the same serializer id);
    // node B, the older node, has never heard of it.
    ActorSystem<Void> nodeA = node(ConfigFactory.parseString(
        "pekko.actor.serializers.quarry-kryo = \"" + NewerProtocolSerializer.class.getName() + "\""));
    ActorSystem<QuarryMessage> nodeB = receiverNode();
    ActorRef<QuarryMessage> receiverOnB = join(nodeA, nodeB);

    LoggingTestKit.error("Failed to deserialize message")
        .withCustom(event -> causeNames(event.getThrowable(), "unregistered class ID"))
        .expect(nodeB, () -> {
          receiverOnB.tell(new NotInTheRegistry("only node A knows this class"));
          return null;
        });
    receiverOnB.tell(RunCommand.TelemetryAck.INSTANCE);

    assertEquals(RunCommand.TelemetryAck.INSTANCE, received.poll(20, TimeUnit.SECONDS),
        "the registered message sent after the dropped one arrives, and nothing before it");
    assertAssociationUp(nodeA, nodeB);
  }

  private ActorSystem<Void> node(Config overrides) {
    Config config = overrides
        .withFallback(ConfigFactory.parseResources("application-test.conf"))
        .withFallback(ClusterConfig.of("127.0.0.1", 0, List.of(), List.of("worker"), "tcp"));
    ActorSystem<Void> node = ActorSystem.create(Behaviors.empty(), ClusterConfig.SYSTEM_NAME, config);
    nodes.add(node);
    return node;
  }

  /** Node B, whose guardian puts every message it receives on {@link #received}. */
  private ActorSystem<QuarryMessage> receiverNode() {
    Behavior<QuarryMessage> recorder = Behaviors.receiveMessage(message -> {
      received.add(message);
      return Behaviors.same();
    });
    Config config = ConfigFactory.parseResources("application-test.conf")
        .withFallback(ClusterConfig.of("127.0.0.1", 0, List.of(), List.of("worker"), "tcp"));
    ActorSystem<QuarryMessage> node = ActorSystem.create(recorder, ClusterConfig.SYSTEM_NAME, config);
    nodes.add(node);
    return node;
  }

  /** Forms a cluster of A and B and returns, on A, the ref of B's recorder. */
  private static ActorRef<QuarryMessage> join(ActorSystem<Void> nodeA, ActorSystem<QuarryMessage> nodeB)
      throws InterruptedException {
    Cluster.get(nodeA).manager().tell(Join.create(Cluster.get(nodeA).selfMember().address()));
    Cluster.get(nodeB).manager().tell(Join.create(Cluster.get(nodeA).selfMember().address()));
    awaitUp(nodeA, 2);
    String path = ActorRefResolver.get(nodeB).toSerializationFormat(nodeB);
    return ActorRefResolver.get(nodeA).resolveActorRef(path);
  }

  private void assertAssociationUp(ActorSystem<?> nodeA, ActorSystem<?> nodeB) throws InterruptedException {
    assertNull(received.poll(300, TimeUnit.MILLISECONDS), "nothing else reached node B");
    for (ActorSystem<?> node : List.of(nodeA, nodeB)) {
      assertTrue(Cluster.get(node).state().getUnreachable().isEmpty(), "no node became unreachable");
      long up = 0;
      for (var member : Cluster.get(node).state().getMembers()) if (member.status() == MemberStatus.up()) up++;
      assertEquals(2, up, "both nodes are still members");
    }
    assertFalse(nodeA.whenTerminated().isCompleted() || nodeB.whenTerminated().isCompleted());
  }

  private static boolean causeNames(Optional<Throwable> throwable, String text) {
    for (Throwable t = throwable.orElse(null); t != null; t = t.getCause()) {
      if (String.valueOf(t.getMessage()).contains(text)) return true;
    }
    return false;
  }

  private static void awaitUp(ActorSystem<?> system, int members) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      long up = 0;
      for (var member : Cluster.get(system).state().getMembers()) if (member.status() == MemberStatus.up()) up++;
      if (up >= members) return;
      Thread.sleep(50);
    }
    throw new AssertionError("the cluster did not form");
  }

  /**
   * Quarry's serializer as a newer node would have it: the same registry and serializer id, plus one class
   * registered after the last id the current registry uses.
   */
  public static final class NewerProtocolSerializer extends org.apache.pekko.serialization.JSerializer {
    private final Kryo kryo;

    public NewerProtocolSerializer(ExtendedActorSystem system) {
      kryo = QuarryKryoSerializer.newKryo(ActorRefResolver.get(Adapter.toTyped(system)));
      kryo.register(NotInTheRegistry.class, ProtocolRegistry.FIRST_ID + ProtocolRegistry.classes().size());
    }

    @Override
    public int identifier() {
      return QuarryKryoSerializer.IDENTIFIER;
    }

    @Override
    public boolean includeManifest() {
      return false;
    }

    @Override
    public synchronized byte[] toBinary(Object message) {
      Output output = new Output(256, -1);
      kryo.writeClassAndObject(output, message);
      return output.toBytes();
    }

    @Override
    public synchronized Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
      return kryo.readClassAndObject(new Input(bytes));
    }
  }
}
