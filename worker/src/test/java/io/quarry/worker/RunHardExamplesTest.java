package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.FrameBudget;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleParts;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.PartWindow;
import io.quarry.protocol.SnapshotAssembly;
import io.quarry.protocol.HardExamplePayload;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.RunCommand;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.RunCounters;
import io.quarry.protocol.WorkerCommand;
import io.quarry.worker.trainer.Payload;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** One run's hard-example state on a worker, without the worker actor: tracker, counters and payload answers. */
class RunHardExamplesTest {
  private static final ActorTestKit testKit = ActorTestKit.create();
  private static final PayloadRendering.Limits LIMITS = new PayloadRendering.Limits(1 << 16, 100, 1 << 16);

  private final ExecutorService payloadExecutor = Executors.newFixedThreadPool(2);
  private final TestProbe<RunCommand> run = testKit.createTestProbe();
  private final RunHardExamples hardExamples =
      new RunHardExamples("r1", "w1", 2, false, LIMITS, payloadExecutor, FrameBudget.messageBytes(256 * 1024));
  private final Set<Long> rendered = ConcurrentHashMap.newKeySet();

  @AfterAll
  static void shutDown() {
    testKit.shutdownTestKit();
  }

  @AfterEach
  void stopExecutor() throws InterruptedException {
    payloadExecutor.shutdownNow();
    payloadExecutor.awaitTermination(10, TimeUnit.SECONDS);
  }

  /** A share of merge {@code merge} in one part (entries of another worker in it are ignored, not counted). */
  private WorkerCommand.MergedHardExamples merged(int merge, HardExample... entries) {
    int own = (int) java.util.Arrays.stream(entries).filter(e -> e.workerId().equals("w1")).count();
    return new WorkerCommand.MergedHardExamples(1, "r1", merge, 1.5, "w1", 0, 1, own, List.of(entries), run.getRef());
  }

  private static HardExample own(long sampleId) {
    return new HardExample(sampleId, 5f, "w1", 0);
  }

  private static List<Long> sampleIds(RunCommand.HardExamplePayloads payloads) {
    return payloads.payloads().stream().map(HardExamplePayload::sampleId).toList();
  }

  @Test
  void offersReachTheSnapshotOfTheNextMerge() {
    hardExamples.offer(new long[] {1, 2, 3}, new float[] {3f, 1f, 2f}, null, null, 3, 0);

    HardExampleSnapshot snapshot = hardExamples.snapshot(4);

    assertEquals(List.of("r1", 4, "w1", 3L), List.of(snapshot.runId(), snapshot.merge(), snapshot.workerId(),
        snapshot.samplesSeen()));
    assertEquals(List.of(1L, 3L), snapshot.entries().stream().map(HardExample::sampleId).toList());
    assertEquals(0, hardExamples.snapshot(5).samplesSeen(), "each merge starts a new interval");
  }

  @Test
  void countersAreTheTrackersAndTheTelemetryItsAttemptsDropped() {
    hardExamples.offer(new long[] {1, 2, 3, 4, 5}, new float[] {3f, 2f, 1f, Float.NaN, Float.NEGATIVE_INFINITY},
        null, null, 5, 0);
    hardExamples.attemptEnded(4);
    hardExamples.attemptEnded(1);

    RunCounters counters = hardExamples.counters(2);

    assertEquals(1, counters.get(RunCounter.SAMPLES_REJECTED), "k = 2: the lowest of three finite losses");
    assertEquals(2, counters.get(RunCounter.NONFINITE_LOSSES));
    assertEquals(4 + 1 + 2, counters.get(RunCounter.TELEMETRY_DROPPED), "ended attempts and the running one");
    assertEquals(0, counters.get(RunCounter.MERGES), "coordinator-side counters are not the worker's");
  }

  @Test
  void rendersOnlyItsOwnEntriesAndEachSampleOnce() {
    hardExamples.renderWith(sampleId -> {
      rendered.add(sampleId);
      return Payload.features(new float[] {sampleId});
    });

    hardExamples.merged(merged(0, own(1), new HardExample(2, 4f, "w2", 0), own(3)));
    RunCommand.HardExamplePayloads first = run.expectMessageClass(RunCommand.HardExamplePayloads.class);
    assertEquals(List.of(1L, 3L), sampleIds(first));
    assertTrue(first.last());

    hardExamples.merged(merged(1, own(3), own(4)));
    assertEquals(List.of(4L), sampleIds(run.expectMessageClass(RunCommand.HardExamplePayloads.class)));
    assertEquals(Set.of(1L, 3L, 4L), rendered);
  }

  @Test
  void answersMergesInMergeOrderEvenWhenAnEarlierRenderingIsSlow() throws Exception {
    CountDownLatch slowSample = new CountDownLatch(1);
    hardExamples.renderWith(sampleId -> {
      if (sampleId == 1) slowSample.await();
      return Payload.features(new float[] {sampleId});
    });

    hardExamples.merged(merged(0, own(1)));
    hardExamples.merged(merged(1, own(2)));
    run.expectNoMessage(Duration.ofMillis(200)); // merge 1 waits for merge 0, though a second thread is free
    slowSample.countDown();

    assertEquals(0, run.expectMessageClass(RunCommand.HardExamplePayloads.class).merge());
    assertEquals(1, run.expectMessageClass(RunCommand.HardExamplePayloads.class).merge());
  }

  @Test
  void withoutARendererItsEntriesGetAnEmptyLastAnswer() {
    hardExamples.merged(merged(0, own(1)));

    RunCommand.HardExamplePayloads answer = run.expectMessageClass(RunCommand.HardExamplePayloads.class);
    assertTrue(answer.last() && answer.payloads().isEmpty() && answer.failed() == 0, answer.toString());
  }

  @Test
  void aMergedBufferWithoutItsEntriesSetsTheThresholdAndIsNotAnswered() {
    hardExamples.merged(merged(0, new HardExample(2, 4f, "w2", 0)));
    hardExamples.offer(new long[] {1, 2}, new float[] {1f, 2f}, null, null, 2, 0);

    assertEquals(1, hardExamples.snapshot(1).aboveThreshold(), "above the merged threshold of 1.5");
    run.expectNoMessage(Duration.ofMillis(200));
  }

  @Test
  void aRunItHoldsNothingOfIsAnsweredEmpty() {
    assertTrue(RunHardExamples.emptySnapshot("gone", 3, "w1").entries().isEmpty());

    RunHardExamples.mergedUntracked(merged(2, own(1)), "w1");
    RunCommand.HardExamplePayloads answer = run.expectMessageClass(RunCommand.HardExamplePayloads.class);
    assertEquals(2, answer.merge());
    assertTrue(answer.last() && answer.payloads().isEmpty());

    RunHardExamples.mergedUntracked(merged(3, new HardExample(2, 4f, "w2", 0)), "w1");
    run.expectNoMessage(Duration.ofMillis(200));
  }

  // --- parts ---

  /** A worker of K = 1000 whose messages hold at most {@code messageBytes}: its snapshot and shares take many parts. */
  private RunHardExamples smallFrames(int messageBytes) {
    RunHardExamples many = new RunHardExamples("r1", "w1", 1000, true, new PayloadRendering.Limits(1 << 16, 1000, 1 << 16),
        payloadExecutor, messageBytes);
    long[] ids = new long[1000];
    float[] losses = new float[1000];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = 1_000_000_000L + i;
      losses[i] = 1f + i;
    }
    many.offer(ids, losses, null, null, ids.length, 123_456);
    return many;
  }

  @Test
  void aSnapshotOfManyPartsGoesOutAWindowAtATimeAsTheCoordinatorGrantsRoom() {
    RunHardExamples many = smallFrames(300);
    TestProbe<HardExampleSnapshotPart> coordinator = testKit.createTestProbe();

    many.sendSnapshot(7, coordinator.getRef());

    SnapshotAssembly assembly = new SnapshotAssembly(1000);
    for (int i = 0; i < PartWindow.IN_FLIGHT; i++) assembly.offer(coordinator.receiveMessage());
    int parts = assembly.parts();
    assertTrue(parts > 2 * PartWindow.IN_FLIGHT, parts + " parts");
    coordinator.expectNoMessage(Duration.ofMillis(200)); // the rest waits for room
    many.snapshotCredit(6, 1000);
    coordinator.expectNoMessage(Duration.ofMillis(100)); // a grant for another merge is not this one's
    while (!assembly.complete()) {
      int credit = PartWindow.creditAfter(assembly.received(), parts);
      if (credit > 0) many.snapshotCredit(7, credit);
      assertNotEquals(SnapshotAssembly.Outcome.FAILED, assembly.offer(coordinator.receiveMessage()));
    }
    assertEquals(1000, assembly.snapshot().entries().size());
    assertEquals(1000.0f, assembly.snapshot().entries().get(0).loss());
    coordinator.expectNoMessage(Duration.ofMillis(100));
  }

  @Test
  void aShareOfManyPartsIsRenderedOnceWholeAndGrantsTheRunRoomAsItArrives() {
    RunHardExamples many = smallFrames(1_400);
    Set<Long> renderedNow = ConcurrentHashMap.newKeySet();
    many.renderWith(sampleId -> {
      renderedNow.add(sampleId);
      return Payload.features(new float[] {sampleId});
    });
    List<HardExample> own = new java.util.ArrayList<>();
    for (int i = 0; i < 900; i++) own.add(new HardExample(5_000_000_000L + i, 9f, "w1", 1_000_000L));
    List<WorkerCommand.MergedHardExamples> parts =
        HardExampleParts.cutMerged(1, "r1", 4, 0.5, "w1", own, run.getRef(), 1_400);
    assertTrue(parts.size() > PartWindow.IN_FLIGHT, parts.size() + " parts");

    for (int i = 0; i < parts.size(); i++) {
      many.merged(parts.get(i));
      if (i == 3) many.merged(parts.get(i)); // a duplicate changes nothing
    }

    int grants = 0;
    for (int received = 1; received <= parts.size(); received++) {
      if (PartWindow.creditAfter(received, parts.size()) > 0) grants++;
    }
    assertTrue(grants > 0);
    List<RunCommand> received = run.receiveSeveralMessages(grants + 1, Duration.ofSeconds(10));
    assertTrue(received.stream().limit(received.size() - 1).allMatch(m -> m instanceof RunCommand.MergedCredit),
        received.toString());
    RunCommand.HardExamplePayloads answer = (RunCommand.HardExamplePayloads) received.get(received.size() - 1);
    assertTrue(answer.last());
    assertEquals(900, answer.payloads().size(), "all 900, though rendered only once the share was whole");
    assertEquals(900, renderedNow.size());
  }

  @Test
  void aShareWithALostPartIsRenderedWithWhatArrivedAndAnswered() {
    List<HardExample> own = new java.util.ArrayList<>();
    for (int i = 0; i < 40; i++) own.add(own(i));
    List<WorkerCommand.MergedHardExamples> parts =
        HardExampleParts.cutMerged(1, "r1", 0, 0.5, "w1", own, run.getRef(), 1_280);
    assertTrue(parts.size() >= 3, parts.size() + " parts");
    RunHardExamples wide = new RunHardExamples("r1", "w1", 64, false, LIMITS, payloadExecutor, 1_280);
    wide.renderWith(sampleId -> Payload.features(new float[] {sampleId}));

    wide.merged(parts.get(0));
    wide.merged(parts.get(2)); // part 1 was lost

    RunCommand.HardExamplePayloads answer = run.expectMessageClass(RunCommand.HardExamplePayloads.class);
    assertTrue(answer.last());
    assertEquals(parts.get(0).entries().size(), answer.payloads().size(), "the first part's entries");
    wide.merged(parts.get(1));
    run.expectNoMessage(Duration.ofMillis(200)); // that share is over
  }
}
