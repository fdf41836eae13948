package io.quarry.coordinator.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.sketch.LossSketch;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The merges of a run and the gate it passes before it completes. */
class MergeRoundsTest {
  private final AtomicLong nanos = new AtomicLong();
  private final MergeRounds merges = new MergeRounds(MergeMode.TOP_K, 4, 0.9, 0, nanos::get);

  private static HardExampleSnapshot snapshot(int merge, String workerId, HardExample... entries) {
    return new HardExampleSnapshot("r", merge, workerId, List.of(entries), entries.length, 0,
        entries.length == 0 ? Float.NaN : entries[0].loss(), LossSketch.encode(LossSketch.create()));
  }

  @Test
  void oneAllGatherAtATimeNumberedFromWhereTheRunWas() {
    MergeRounds recovered = new MergeRounds(MergeMode.TOP_K, 4, 0.9, 7, nanos::get);
    assertEquals(7, recovered.start());
    assertTrue(recovered.inFlight());
    assertThrows(IllegalStateException.class, recovered::start);
    recovered.collected(7, List.of(), Map.of(), Map.of());
    assertFalse(recovered.inFlight());
    assertEquals(8, recovered.started());
  }

  @Test
  void theGatherTimeRunsFromTheStartToTheLastAnswer() {
    nanos.set(1_000_000);
    int merge = merges.start();
    nanos.set(26_000_000);
    MergeRounds.Merged merged = merges.collected(merge, List.of(snapshot(merge, "w1")),
        Map.of("w2", "timeout: no answer within hard-examples.merge-timeout = 5s"), Map.of("w1", 1));
    assertEquals(25.0, merged.gatherMs(), 1e-9);
    assertEquals(List.of("w2"), merged.missing());
  }

  @Test
  void aMergeWithoutEntriesKeepsTheLastHardestExamples() {
    int first = merges.start();
    merges.collected(first, List.of(snapshot(first, "w1", new HardExample(5, 9f, "w1", 3))), Map.of(), Map.of());
    int second = merges.start();
    merges.collected(second, List.of(snapshot(second, "w1")), Map.of(), Map.of());
    assertEquals(5, merges.hardest().get(0).sampleId());
  }

  @Test
  void theGateOpensOnceTheFinalMergeIsOutAndEveryOwedPayloadIsIn() {
    int regular = merges.start();
    merges.sent(merges.collected(regular, List.of(snapshot(regular, "w1", new HardExample(1, 5f, "w1", 1))),
        Map.of(), Map.of()), Set.of("w1", "w2"));
    int last = merges.startFinal();
    MergeRounds.Merged merged = merges.collected(last, List.of(
        snapshot(last, "w1", new HardExample(1, 5f, "w1", 2)), snapshot(last, "w2", new HardExample(2, 4f, "w2", 2))),
        Map.of(), Map.of());
    assertFalse(merges.gateOpen(), "the final merge is not out yet");
    merges.sent(merged, Set.of("w1", "w2"));
    assertEquals(Set.of("w1", "w2"), merges.payloadsAwaited());

    merges.payloadsReceived("w1", regular, true);
    assertFalse(merges.gateOpen(), "w1's answer to an earlier merge does not cover the final one");
    merges.payloadsReceived("w1", last, false);
    assertFalse(merges.gateOpen(), "not w1's last message");
    merges.payloadsReceived("w1", last, true);
    merges.workerLost("w2");
    assertTrue(merges.gateOpen());
  }

  @Test
  void aRunGivesUpOnPayloadsThatDoNotCome() {
    int last = merges.startFinal();
    merges.sent(merges.collected(last, List.of(snapshot(last, "w1", new HardExample(1, 5f, "w1", 2))), Map.of(), Map.of()),
        Set.of("w1"));
    assertFalse(merges.gateOpen());
    merges.giveUpOnPayloads();
    assertTrue(merges.gateOpen());
  }

  @Test
  void entriesOfWorkersThatLeftOweNoPayloads() {
    int last = merges.startFinal();
    merges.sent(merges.collected(last, List.of(snapshot(last, "gone", new HardExample(1, 5f, "gone", 2))), Map.of(), Map.of()),
        Set.of("w1"));
    assertTrue(merges.gateOpen());
  }

  @Test
  void aRunWhoseEveryMergeMissedEveryWorkerSaysItHasNoHardExamples() {
    MergeRounds merges = new MergeRounds(MergeMode.TOP_K, 4, 0.9, 0, () -> 0L);
    for (int i = 0; i < 3; i++) {
      merges.collected(merges.start(), List.of(), Map.of("w1", "incomplete: 3 of 7 parts arrived within "
          + "hard-examples.merge-timeout = 5s", "w2", "timeout: no answer within hard-examples.merge-timeout = 5s"),
          Map.of());
    }

    String warning = merges.warning(3, 3, 3);

    assertTrue(warning.startsWith("no hard examples: all 3 merges left every worker out; the last, merge 2: "
        + "w1: incomplete: 3 of 7 parts"), warning);
    assertTrue(warning.contains("w2: timeout: no answer within hard-examples.merge-timeout = 5s"), warning);
    assertTrue(merges.lastIncomplete().unanswered());
  }

  @Test
  void aMergeThatLeftSomeWorkersOutIsCountedAndTheLastReasonNamed() {
    MergeRounds merges = new MergeRounds(MergeMode.TOP_K, 4, 0.9, 0, () -> 0L);
    int first = merges.start();
    MergeRounds.Merged partial = merges.collected(first, List.of(snapshot(first, "w1", new HardExample(1, 5f, "w1", 1))),
        Map.of("w2", "lost: node unreachable"), Map.of("w1", 1));
    int second = merges.start();
    merges.collected(second, List.of(snapshot(second, "w1")), Map.of(), Map.of("w1", 1));

    assertFalse(partial.unanswered(), "w1 answered");
    assertEquals("1 of 2 merges left workers out; the last, merge 0: w2: lost: node unreachable "
        + "(hard_examples.jsonl: missing_why)", merges.warning(2, 1, 0));
    assertEquals("", new MergeRounds(MergeMode.TOP_K, 4, 0.9, 0, () -> 0L).warning(5, 0, 0), "all heard: no warning");
  }
}
