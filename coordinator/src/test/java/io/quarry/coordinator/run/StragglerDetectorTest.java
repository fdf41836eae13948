package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class StragglerDetectorTest {
  private final StragglerDetector detector = new StragglerDetector(2.0, 1_000);

  /** Shard i steps every {@code msPerStep[i]} ms from t=0 to {@code untilMs}. */
  private void advance(long untilMs, long... msPerStep) {
    for (long t = 0; t <= untilMs; t += 10) {
      for (int shard = 0; shard < msPerStep.length; shard++) {
        if (t % msPerStep[shard] == 0) detector.progress(shard, 1, t / msPerStep[shard], t);
      }
    }
  }

  @Test
  void aShardSlowerThanFactorTimesTheOthersForTheWindowIsReportedOnce() {
    advance(3_000, 10, 10, 50);
    assertEquals(List.of(), detector.check(Set.of(0, 1, 2), 500), "not before it has been slow for the window");
    assertEquals(List.of(), detector.check(Set.of(0, 1, 2), 1_000));
    assertEquals(List.of(2), detector.check(Set.of(0, 1, 2), 2_100));
    assertTrue(detector.isStraggler(2));
    assertEquals(List.of(), detector.check(Set.of(0, 1, 2), 3_000), "reported once per attempt");
    assertEquals(10, detector.medianOfOthers(Set.of(0, 1, 2), 2, 3_000), 1.0);
  }

  @Test
  void twoShardsAreEnoughToFindTheSlowOne() {
    advance(3_000, 10, 30);
    detector.check(Set.of(0, 1), 1_000);
    assertEquals(List.of(1), detector.check(Set.of(0, 1), 2_500));
    assertFalse(detector.isStraggler(0));
  }

  @Test
  void evenlyPacedShardsAreNeverStragglers() {
    advance(3_000, 10, 10, 10, 10);
    for (long t = 0; t <= 3_000; t += 250) assertEquals(List.of(), detector.check(Set.of(0, 1, 2, 3), t));
  }

  @Test
  void aShardThatStopsReportingCountsAsSlow() {
    advance(1_000, 10, 10);
    for (long t = 1_010; t <= 4_000; t += 10) detector.progress(0, 1, t / 10, t);
    detector.check(Set.of(0, 1), 2_000);
    assertEquals(List.of(1), detector.check(Set.of(0, 1), 3_100), "silent since t=1000");
  }

  @Test
  void theLastShardLaggingBehindFinishedOnesIsFound() {
    advance(1_000, 10, 10, 50);
    detector.finish(0);
    detector.finish(1);
    for (long t = 1_010; t <= 3_000; t += 10) if (t % 50 == 0) detector.progress(2, 1, t / 50, t);
    detector.check(Set.of(2), 1_500);
    assertEquals(List.of(2), detector.check(Set.of(2), 2_600));
  }

  @Test
  void aNewAttemptStartsAFreshEstimate() {
    advance(3_000, 10, 40);
    detector.check(Set.of(0, 1), 1_000);
    assertEquals(List.of(1), detector.check(Set.of(0, 1), 2_100));
    detector.progress(1, 2, 0, 3_000);
    assertFalse(detector.isStraggler(1));
  }
}
