package io.quarry.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.serialization.QuarryKryoSerializer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializationExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The all-gather's messages cut to fit a frame, measured with the real serializer, and put back together: the parts
 * guard against the old failure, one message of a large K over the transport's frame (dropped by Artery).
 */
class HardExamplePartsTest {
  private static final String WORKER = "pekko://quarry@10.0.0.11:41234/cpu-0";
  private static final int AERON_FRAME = 128 * 1024;
  private static ActorTestKit testKit;
  private static QuarryKryoSerializer serializer;
  private static ActorRef<RunCommand> runRef;

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create("HardExamplePartsTest", ConfigFactory.load());
    serializer = (QuarryKryoSerializer) SerializationExtension.get(Adapter.toClassic(testKit.system()))
        .findSerializerFor(new RunSpec("r", ""));
    runRef = testKit.<RunCommand>createTestProbe().getRef();
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /** K entries, highest loss first, with large sample ids and steps (the longer varints) and labels. */
  private static List<HardExample> entries(int k, long seed) {
    Random random = new Random(seed);
    List<HardExample> entries = new ArrayList<>(k);
    for (int i = 0; i < k; i++) {
      entries.add(new HardExample(random.nextLong() >>> random.nextInt(64), 100f - i * 1e-3f, WORKER,
          random.nextLong() >>> random.nextInt(64), random.nextInt(1000) - 1, random.nextInt(1000) - 1));
    }
    return entries;
  }

  private static byte[] bytes(int length, long seed) {
    byte[] bytes = new byte[length];
    new Random(seed).nextBytes(bytes);
    return bytes;
  }

  private static HardExampleSnapshot snapshot(int k, int sketchBytes) {
    return new HardExampleSnapshot("run-with-a-long-name-0123456789", 41, WORKER, entries(k, k), 1_000_000L, 4_321L,
        99.5f, bytes(sketchBytes, 7));
  }

  private static HardExampleSnapshot assemble(List<HardExampleSnapshotPart> parts, int k) {
    SnapshotAssembly assembly = new SnapshotAssembly(k);
    for (HardExampleSnapshotPart part : parts) {
      HardExampleSnapshotPart back = (HardExampleSnapshotPart) serializer.fromBinary(serializer.toBinary(part));
      SnapshotAssembly.Outcome outcome = assembly.offer(back);
      assertEquals(part.part() == part.parts() - 1 ? SnapshotAssembly.Outcome.COMPLETE : SnapshotAssembly.Outcome.TAKEN,
          outcome, "part " + part.part());
    }
    return assembly.snapshot();
  }

  @Test
  void aLargeSnapshotIsCutIntoPartsThatEachFitTheFrameAndComeBackWhole() {
    int k = 65_536;
    HardExampleSnapshot snapshot = snapshot(k, 3_000);
    for (int frame : new int[] {FrameBudget.MIN_FRAME_BYTES, AERON_FRAME, 1024 * 1024}) {
      int messageBytes = FrameBudget.messageBytes(frame);

      List<HardExampleSnapshotPart> parts = HardExampleParts.cut(snapshot, messageBytes);

      int total = 0;
      for (HardExampleSnapshotPart part : parts) {
        int size = serializer.toBinary(part).length;
        assertTrue(size <= messageBytes, "part " + part.part() + " takes " + size + " bytes, over " + messageBytes);
        total += size;
      }
      // Not much wasted: the parts are filled to within a few entries (and the names' worst case) of the budget.
      assertTrue(parts.size() <= total / (0.95 * messageBytes) + 1, parts.size() + " parts for " + total + " bytes");
      HardExampleSnapshot back = assemble(parts, k);
      assertEquals(snapshot.entries(), back.entries());
      assertArrayEquals(snapshot.lossSketch(), back.lossSketch());
      assertEquals(List.of(snapshot.runId(), snapshot.merge(), snapshot.workerId(), snapshot.samplesSeen(),
          snapshot.aboveThreshold(), snapshot.maxLoss()), List.of(back.runId(), back.merge(), back.workerId(),
          back.samplesSeen(), back.aboveThreshold(), back.maxLoss()));
    }
  }

  @Test
  void theWholeSnapshotInOneMessageWouldNotFitAFrame() {
    // What went wrong before: K = 4096 over aeron-udp, K = 65536 over tcp (1 MiB), each one message per worker.
    List<HardExampleSnapshotPart> one = HardExampleParts.cut(snapshot(65_536, 3_000), Integer.MAX_VALUE / 2);
    assertEquals(1, one.size());
    assertTrue(serializer.toBinary(one.get(0)).length > 1024 * 1024, "one message is over tcp's 1 MiB frame");
    assertTrue(HardExampleParts.cut(snapshot(65_536, 3_000), FrameBudget.messageBytes(1024 * 1024)).size() > 1);
  }

  @Test
  void aSketchLargerThanAPartSpansSeveralParts() {
    HardExampleSnapshot snapshot = snapshot(100, 200_000);

    List<HardExampleSnapshotPart> parts = HardExampleParts.cut(snapshot, FrameBudget.messageBytes(AERON_FRAME));

    assertEquals(2, parts.size());
    assertEquals(200_000, parts.get(0).sketchBytes());
    assertTrue(parts.get(0).entries().isEmpty(), "the sketch first");
    HardExampleSnapshot back = assemble(parts, 100);
    assertArrayEquals(snapshot.lossSketch(), back.lossSketch());
    assertEquals(snapshot.entries(), back.entries());
  }

  @Test
  void anEmptySnapshotIsOnePart() {
    HardExampleSnapshot empty = new HardExampleSnapshot("r", 0, WORKER, List.of(), 0, 0, Float.NaN, new byte[0]);

    List<HardExampleSnapshotPart> parts = HardExampleParts.cut(empty, FrameBudget.messageBytes(AERON_FRAME));

    assertEquals(1, parts.size());
    assertEquals(List.of(0, 1), List.of(parts.get(0).part(), parts.get(0).parts()));
    assertTrue(assemble(parts, 4).entries().isEmpty());
  }

  @Test
  void aWorkersShareOfAMergedBufferIsCutToFitAndKeepsItsOrder() {
    List<HardExample> own = entries(20_000, 3);
    int messageBytes = FrameBudget.messageBytes(FrameBudget.MIN_FRAME_BYTES);

    List<WorkerCommand.MergedHardExamples> parts = HardExampleParts.cutMerged(5L, "run-1", 9, 2.5, WORKER, own,
        runRef, messageBytes);

    assertTrue(parts.size() > 5, parts.size() + " parts");
    List<HardExample> back = new ArrayList<>();
    PartSequence sequence = new PartSequence();
    for (WorkerCommand.MergedHardExamples part : parts) {
      byte[] bytes = serializer.toBinary(part);
      assertTrue(bytes.length <= messageBytes, bytes.length + " bytes");
      WorkerCommand.MergedHardExamples read = (WorkerCommand.MergedHardExamples) serializer.fromBinary(bytes);
      assertEquals(List.of(9, 2.5, 20_000, runRef), List.of(read.merge(), read.threshold(), read.ownEntries(),
          read.replyTo()));
      assertFalse(sequence.offer(read.part(), read.parts()) == PartSequence.Verdict.GAP);
      back.addAll(read.entries());
    }
    assertTrue(sequence.complete());
    assertEquals(own, back);
    assertEquals(1, HardExampleParts.cutMerged(5L, "r", 9, 2.5, WORKER, List.of(), runRef, messageBytes).size(),
        "a worker without entries still gets the threshold");
  }

  // --- reassembly ---

  private static List<HardExampleSnapshotPart> fourParts() {
    HardExampleSnapshot snapshot = snapshot(4_000, 100);
    for (int messageBytes = 10_000; ; messageBytes += 1_000) {
      List<HardExampleSnapshotPart> parts = HardExampleParts.cut(snapshot, messageBytes);
      if (parts.size() == 4) return parts;
    }
  }

  @Test
  void aDuplicatePartIsIgnored() {
    List<HardExampleSnapshotPart> parts = fourParts();
    SnapshotAssembly assembly = new SnapshotAssembly(4_000);

    assertEquals(SnapshotAssembly.Outcome.TAKEN, assembly.offer(parts.get(0)));
    assertEquals(SnapshotAssembly.Outcome.TAKEN, assembly.offer(parts.get(1)));
    assertEquals(SnapshotAssembly.Outcome.DUPLICATE, assembly.offer(parts.get(1)));
    assertEquals(SnapshotAssembly.Outcome.DUPLICATE, assembly.offer(parts.get(0)));
    assertEquals(SnapshotAssembly.Outcome.TAKEN, assembly.offer(parts.get(2)));
    assertEquals(SnapshotAssembly.Outcome.COMPLETE, assembly.offer(parts.get(3)));
    assertEquals(SnapshotAssembly.Outcome.OVER, assembly.offer(parts.get(3)));

    assertEquals(4_000, assembly.snapshot().entries().size());
  }

  @Test
  void aPartAfterAGapFailsTheSnapshotAndSaysWhichPartsWereLost() {
    List<HardExampleSnapshotPart> parts = fourParts();
    SnapshotAssembly assembly = new SnapshotAssembly(4_000);

    assembly.offer(parts.get(0));
    assertEquals(SnapshotAssembly.Outcome.FAILED, assembly.offer(parts.get(2)));

    assertFalse(assembly.complete());
    assertEquals("part 2 of 4 came after 1 of 4 parts: the parts between were lost", assembly.failure());
    assertEquals(SnapshotAssembly.Outcome.OVER, assembly.offer(parts.get(1)), "nothing fills the gap afterwards");
  }

  @Test
  void aMissingLastPartLeavesTheSnapshotIncomplete() {
    List<HardExampleSnapshotPart> parts = fourParts();
    SnapshotAssembly assembly = new SnapshotAssembly(4_000);

    for (int i = 0; i < 3; i++) assembly.offer(parts.get(i));

    assertFalse(assembly.complete());
    assertNull(assembly.failure());
    assertEquals("3 of 4 parts", assembly.describe());
  }

  @Test
  void partsThatContradictEachOtherOrGoPastKFailTheSnapshot() {
    List<HardExampleSnapshotPart> parts = fourParts();
    HardExampleSnapshotPart first = parts.get(0);
    HardExampleSnapshotPart renumbered = new HardExampleSnapshotPart(first.runId(), first.merge(), first.workerId(), 1,
        5, first.samplesSeen(), first.aboveThreshold(), first.maxLoss(), first.sketchBytes(), new byte[0], List.of());

    SnapshotAssembly contradicted = new SnapshotAssembly(4_000);
    contradicted.offer(first);
    assertEquals(SnapshotAssembly.Outcome.FAILED, contradicted.offer(renumbered));
    assertTrue(contradicted.failure().contains("does not fit the snapshot's 4 parts"), contradicted.failure());

    SnapshotAssembly small = new SnapshotAssembly(1_000);
    SnapshotAssembly.Outcome outcome = SnapshotAssembly.Outcome.TAKEN;
    for (int i = 0; i < 4 && outcome == SnapshotAssembly.Outcome.TAKEN; i++) outcome = small.offer(parts.get(i));
    assertEquals(SnapshotAssembly.Outcome.FAILED, outcome);
    assertEquals("more than 1000 entries (hard-examples.k)", small.failure());

    HardExampleSnapshotPart hugeSketch = new HardExampleSnapshotPart("r", 1, "w", 0, 1, 0, 0, 0f, Integer.MAX_VALUE,
        new byte[0], List.of());
    SnapshotAssembly bounded = new SnapshotAssembly(10);
    assertEquals(SnapshotAssembly.Outcome.FAILED, bounded.offer(hugeSketch), "no 2 GB buffer for a declared length");
  }

  // --- flow control ---

  @Test
  void aSmallMessageNeedsNoGrantAndALargeOneKeepsAWindowInFlight() {
    for (int parts : new int[] {1, PartWindow.IN_FLIGHT, PartWindow.IN_FLIGHT + 1, 1000}) {
      List<Integer> numbers = new ArrayList<>();
      for (int i = 0; i < parts; i++) numbers.add(i);
      PartWindow<Integer> window = new PartWindow<>(numbers);
      List<Integer> inFlight = new ArrayList<>(window.first());
      List<Integer> received = new ArrayList<>();
      int grants = 0;
      while (!inFlight.isEmpty()) {
        assertTrue(inFlight.size() <= PartWindow.IN_FLIGHT, inFlight.size() + " parts in flight");
        received.add(inFlight.remove(0));
        int credit = PartWindow.creditAfter(received.size(), parts);
        if (credit > 0) {
          grants++;
          inFlight.addAll(window.upTo(credit));
          assertTrue(window.upTo(credit).isEmpty(), "a grant used once");
        }
      }
      assertEquals(numbers, received, parts + " parts, in order");
      assertTrue(window.done());
      if (parts <= PartWindow.IN_FLIGHT) assertEquals(0, grants, "no round trip for " + parts + " parts");
      assertTrue(grants <= parts / PartWindow.CREDIT_EVERY, grants + " grants");
    }
  }

  @Test
  void aStaleGrantSendsNothingTwice() {
    PartWindow<String> window = new PartWindow<>(Arrays.asList("a", "b", "c"));
    assertEquals(List.of("a", "b", "c"), window.first());
    assertTrue(window.upTo(2).isEmpty());
    assertTrue(window.upTo(100).isEmpty());
  }
}
