package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.HardExample;
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
  private final RunHardExamples hardExamples = new RunHardExamples("r1", "w1", 2, false, LIMITS, payloadExecutor);
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

  private WorkerCommand.MergedHardExamples merged(int merge, HardExample... entries) {
    return new WorkerCommand.MergedHardExamples(1, "r1", merge, List.of(entries), 1.5, run.getRef());
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
}
