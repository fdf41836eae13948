package io.quarry.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RunCountersTest {
  @Test
  void everyCounterHasItsOrdinalAsIdAndALabelOfItsOwn() {
    Set<String> labels = new HashSet<>();
    for (RunCounter counter : RunCounter.values()) {
      assertEquals(counter.ordinal(), counter.id(), counter.name());
      assertEquals(true, labels.add(counter.label()), "label used twice: " + counter.label());
      assertEquals(counter.label(), counter.label().toLowerCase(java.util.Locale.ROOT).replace('-', '_'));
    }
  }

  @Test
  void totalsAddAndMaximaKeepTheLargest() {
    RunCounters a = RunCounters.ZERO.add(RunCounter.MERGES, 2).add(RunCounter.MERGE_GATHER_MS_MAX, 30);
    RunCounters b = RunCounters.ZERO.add(RunCounter.MERGES, 3).add(RunCounter.MERGE_GATHER_MS_MAX, 20);
    RunCounters sum = a.plus(b);
    assertEquals(5, sum.get(RunCounter.MERGES));
    assertEquals(30, sum.get(RunCounter.MERGE_GATHER_MS_MAX));
    assertEquals(30, a.add(RunCounter.MERGE_GATHER_MS_MAX, 10).get(RunCounter.MERGE_GATHER_MS_MAX), "a max never shrinks");
    assertEquals(0, RunCounters.ZERO.get(RunCounter.MERGES), "ZERO is never changed");
  }

  @Test
  void aRunningTotalReportedTwiceOrLateCountsOnce() {
    RunCounters newer = RunCounters.ZERO.with(RunCounter.SAMPLES_REJECTED, 10).with(RunCounter.TELEMETRY_DROPPED, 4);
    RunCounters older = RunCounters.ZERO.with(RunCounter.SAMPLES_REJECTED, 7).with(RunCounter.TELEMETRY_DROPPED, 4);
    assertEquals(newer, newer.max(older));
    assertEquals(newer, older.max(newer).max(newer));
  }

  @Test
  void aVectorFromAnotherVersionKeepsWhatBothKnow() {
    assertEquals(RunCounter.values().length, new RunCounters(new long[2]).values().length);
    assertEquals(RunCounter.values().length, new RunCounters(new long[RunCounter.values().length + 3]).values().length);
  }
}
