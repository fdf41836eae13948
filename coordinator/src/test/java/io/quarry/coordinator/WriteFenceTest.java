package io.quarry.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A raised {@link WriteFence}: guarded actors handle nothing more, and raising it waits for a handler in progress. */
@Timeout(30)
class WriteFenceTest {
  private final ActorTestKit testKit = ActorTestKit.create();

  @AfterEach
  void shutDown() {
    testKit.shutdownTestKit();
  }

  /** Records what it handles; "block" holds its handler until {@code release} opens. */
  private static Behavior<String> recorder(List<String> handled, CountDownLatch entered, CountDownLatch release) {
    return Behaviors.receiveMessage(message -> {
      if (message.equals("block")) {
        entered.countDown();
        release.await(10, TimeUnit.SECONDS);
      }
      handled.add(message);
      return Behaviors.same();
    });
  }

  @Test
  void aGuardedActorHandlesNothingOnceTheFenceIsRaised() throws Exception {
    WriteFence fence = new WriteFence();
    List<String> handled = new CopyOnWriteArrayList<>();
    ActorRef<String> actor = testKit.spawn(fence.guard(recorder(handled, new CountDownLatch(1),
        new CountDownLatch(0)), String.class));
    actor.tell("before");
    awaitHandled(handled, 1);
    assertTrue(fence.fence("leaving", Duration.ofSeconds(5)));
    actor.tell("after");
    Thread.sleep(300);
    assertEquals(List.of("before"), handled);
    assertEquals("leaving", fence.reason());
  }

  @Test
  void raisingTheFenceWaitsForAHandlerInProgress() throws Exception {
    WriteFence fence = new WriteFence();
    List<String> handled = new CopyOnWriteArrayList<>();
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    ActorRef<String> actor = testKit.spawn(fence.guard(recorder(handled, entered, release), String.class));
    actor.tell("block");
    assertTrue(entered.await(5, TimeUnit.SECONDS));
    CompletableFuture<Boolean> raised = CompletableFuture.supplyAsync(() -> {
      try {
        return fence.fence("leaving", Duration.ofSeconds(5));
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    Thread.sleep(300);
    assertFalse(raised.isDone(), "the fence waits while a handler runs");
    release.countDown();
    assertTrue(raised.get(5, TimeUnit.SECONDS));
    assertEquals(List.of("block"), handled, "the handler in progress finished before the fence was up");
    actor.tell("after");
    Thread.sleep(300);
    assertEquals(List.of("block"), handled);
  }

  @Test
  void aFenceThatIsNeverRaisedChangesNothing() throws Exception {
    List<String> handled = new CopyOnWriteArrayList<>();
    ActorRef<String> actor = testKit.spawn(new WriteFence().guard(recorder(handled, new CountDownLatch(1),
        new CountDownLatch(0)), String.class));
    actor.tell("a");
    actor.tell("b");
    awaitHandled(handled, 2);
    assertEquals(List.of("a", "b"), handled);
  }

  private static void awaitHandled(List<String> handled, int count) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (handled.size() < count && System.nanoTime() < deadline) Thread.sleep(20);
  }
}
