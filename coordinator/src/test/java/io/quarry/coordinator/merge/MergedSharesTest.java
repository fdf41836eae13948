package io.quarry.coordinator.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.PartWindow;
import io.quarry.protocol.WorkerCommand.MergedHardExamples;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What goes back to each worker after a merge: its own entries and the threshold, in parts, as it grants room. */
class MergedSharesTest {
  private static List<HardExample> entries(String worker, int count, long firstId) {
    List<HardExample> entries = new ArrayList<>();
    for (int i = 0; i < count; i++) entries.add(new HardExample(firstId + i, 50f - i * 1e-3f, worker, 7));
    return entries;
  }

  @Test
  void eachWorkerGetsOnlyItsOwnEntriesAndEveryWorkerTheThreshold() {
    MergedShares shares = new MergedShares(3L, "r", 1 << 20);
    List<HardExample> merged = new ArrayList<>(entries("w1", 3, 0));
    merged.addAll(entries("gone", 2, 100)); // a worker no longer in the run: its entries go nowhere

    Map<String, List<MergedHardExamples>> now = shares.start(5, merged, 2.5, List.of("w1", "w2"), null);

    assertEquals(List.of(0L, 1L, 2L), now.get("w1").get(0).entries().stream().map(HardExample::sampleId).toList());
    assertEquals(3, now.get("w1").get(0).ownEntries());
    MergedHardExamples none = now.get("w2").get(0);
    assertEquals(List.of(1, 0, 2.5, 5, 3L), List.of(none.parts(), none.entries().size(), none.threshold(), none.merge(),
        none.incarnation()));
  }

  @Test
  void aLargeShareGoesOutAsItsWorkerGrantsRoomAndAnOlderMergesGrantSendsNothing() {
    MergedShares shares = new MergedShares(3L, "r", 2_000);
    Map<String, List<MergedHardExamples>> now = shares.start(5, entries("w1", 10_000, 0), 1.0, List.of("w1"), null);
    List<MergedHardExamples> sent = new ArrayList<>(now.get("w1"));
    int parts = sent.get(0).parts();
    assertTrue(parts > 2 * PartWindow.IN_FLIGHT, parts + " parts");
    assertEquals(PartWindow.IN_FLIGHT, sent.size());

    assertTrue(shares.credit("w1", 4, 1_000).isEmpty(), "a grant for merge 4");
    for (int received = 1; received <= parts && sent.size() < parts; received++) {
      int credit = PartWindow.creditAfter(received, parts);
      if (credit > 0) sent.addAll(shares.credit("w1", 5, credit));
    }

    assertEquals(parts, sent.size());
    for (int i = 0; i < parts; i++) assertEquals(i, sent.get(i).part());
    assertEquals(10_000, sent.stream().mapToInt(m -> m.entries().size()).sum());
    shares.workerLost("w1");
    assertTrue(shares.credit("w1", 5, Integer.MAX_VALUE).isEmpty());
  }
}
