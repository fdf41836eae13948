package io.quarry.coordinator.merge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExampleParts;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.HardExampleSnapshotPart;
import io.quarry.protocol.PartWindow;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One merge's gather: whole snapshots from parts, and a reason for every worker left out. */
class SnapshotGatherTest {
  private static final String TIMEOUT = "hard-examples.merge-timeout = 5s";

  private static List<HardExampleSnapshotPart> parts(int merge, String worker, int entries, int messageBytes) {
    List<HardExample> list = new ArrayList<>();
    for (int i = 0; i < entries; i++) list.add(new HardExample(1000 + i, 100f - i, worker, 5));
    return HardExampleParts.cut(new HardExampleSnapshot("r", merge, worker, list, entries, 0, 100f, new byte[] {2, 0}),
        messageBytes);
  }

  @Test
  void aWorkerCountsAsAnsweredOnlyOnceEveryPartHasArrived() {
    SnapshotGather gather = new SnapshotGather(3, List.of("w1", "w2"), 1000);
    List<HardExampleSnapshotPart> w1 = parts(3, "w1", 500, 1_000);
    List<HardExampleSnapshotPart> w2 = parts(3, "w2", 10, 1_000);
    assertTrue(w1.size() > 2);

    for (int i = 0; i < w1.size() - 1; i++) gather.offer(w1.get(i));
    w2.forEach(gather::offer);
    assertFalse(gather.done(), "w1's last part is still out");
    assertEquals(List.of("w2"), gather.snapshots().stream().map(HardExampleSnapshot::workerId).toList());
    gather.offer(w1.get(w1.size() - 1));

    assertTrue(gather.done());
    assertEquals(Map.of(), gather.missing(TIMEOUT));
    assertEquals(Map.of("w1", w1.size(), "w2", 1), gather.parts());
    assertEquals(500, gather.snapshots().get(0).entries().size());
    assertEquals(1000, gather.snapshots().get(0).entries().get(0).sampleId(), "in order");
  }

  @Test
  void everyWorkerLeftOutSaysWhy() {
    SnapshotGather gather = new SnapshotGather(3, List.of("late", "partial", "gap", "gone", "ok"), 1000);
    List<HardExampleSnapshotPart> partial = parts(3, "partial", 300, 1_000);
    List<HardExampleSnapshotPart> gap = parts(3, "gap", 300, 1_000);
    gather.offer(partial.get(0));
    gather.offer(partial.get(1));
    gather.offer(gap.get(0));
    gather.offer(gap.get(2)); // gap's part 1 was lost
    gather.lost("gone", "node unreachable");
    parts(3, "ok", 3, 1_000).forEach(gather::offer);
    gather.offer(gap.get(1)); // too late: nothing fills a gap

    Map<String, String> missing = gather.missing(TIMEOUT);

    assertEquals("timeout: no answer within " + TIMEOUT, missing.get("late"));
    assertEquals("incomplete: 2 of " + partial.size() + " parts arrived within " + TIMEOUT, missing.get("partial"));
    assertEquals("incomplete: part 2 of " + gap.size() + " came after 1 of " + gap.size()
        + " parts: the parts between were lost", missing.get("gap"));
    assertEquals("lost: node unreachable", missing.get("gone"));
    assertEquals(List.of("gap", "gone", "late", "partial"), List.copyOf(missing.keySet()));
    assertEquals(List.of("ok"), gather.snapshots().stream().map(HardExampleSnapshot::workerId).toList());
  }

  @Test
  void partsOfAnotherMergeOrWorkerAndDuplicatesAreIgnored() {
    SnapshotGather gather = new SnapshotGather(3, List.of("w1"), 1000);
    List<HardExampleSnapshotPart> old = parts(2, "w1", 5, 1_000);
    List<HardExampleSnapshotPart> stranger = parts(3, "stranger", 5, 1_000);
    List<HardExampleSnapshotPart> current = parts(3, "w1", 5, 1_000);

    old.forEach(gather::offer);
    stranger.forEach(gather::offer);
    assertFalse(gather.done(), "only merge 3's parts of w1 count");
    current.forEach(gather::offer);
    current.forEach(gather::offer);

    assertTrue(gather.done());
    assertEquals(5, gather.snapshots().get(0).entries().size());
    assertEquals(3, gather.snapshots().get(0).merge());
  }

  @Test
  void aSnapshotOfMoreThanKEntriesIsRefusedAndALostWorkerWhoseSnapshotIsWholeStays() {
    SnapshotGather gather = new SnapshotGather(3, List.of("big", "done"), 100);
    parts(3, "big", 101, 1_000).forEach(gather::offer);
    parts(3, "done", 100, 1_000).forEach(gather::offer);
    gather.lost("done", "left after answering");

    assertTrue(gather.done());
    assertEquals(Map.of("big", "incomplete: more than 100 entries (hard-examples.k)"), gather.missing(TIMEOUT));
    assertEquals(List.of("done"), gather.snapshots().stream().map(HardExampleSnapshot::workerId).toList());
  }

  @Test
  void grantsRoomToAWorkerWhoseSnapshotTakesMoreThanAWindow() {
    List<HardExampleSnapshotPart> many = parts(3, "w1", 2_000, 400);
    assertTrue(many.size() > 2 * PartWindow.IN_FLIGHT, many.size() + " parts");
    SnapshotGather gather = new SnapshotGather(3, List.of("w1"), 2_000);

    List<Integer> grants = new ArrayList<>();
    for (HardExampleSnapshotPart part : many) {
      int credit = gather.offer(part);
      if (credit > 0) grants.add(credit);
    }

    assertEquals(PartWindow.CREDIT_EVERY + PartWindow.IN_FLIGHT, grants.get(0));
    assertTrue(grants.get(grants.size() - 1) >= many.size(), "the last grant covers the last part");
    assertTrue(gather.done());
  }
}
