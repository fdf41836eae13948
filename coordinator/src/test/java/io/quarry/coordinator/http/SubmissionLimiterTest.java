package io.quarry.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class SubmissionLimiterTest {
  @Test
  void atMostTheLimitInAnySixtySecondsPerCaller() {
    SubmissionLimiter limiter = new SubmissionLimiter(3);
    assertTrue(limiter.tryAcquire("a", 0).isEmpty());
    assertTrue(limiter.tryAcquire("a", 10_000).isEmpty());
    assertTrue(limiter.tryAcquire("a", 20_000).isEmpty());
    assertEquals(OptionalLong.of(30_000), limiter.tryAcquire("a", 30_000), "until the first leaves the window");
    assertTrue(limiter.tryAcquire("b", 30_000).isEmpty(), "another caller has its own budget");
    assertTrue(limiter.tryAcquire("a", 60_000).isEmpty(), "the first one left the window");
    assertEquals(OptionalLong.of(10_000), limiter.tryAcquire("a", 60_000));
  }

  @Test
  void zeroMeansNoLimit() {
    SubmissionLimiter limiter = new SubmissionLimiter(0);
    for (int i = 0; i < 1000; i++) assertTrue(limiter.tryAcquire("a", 0).isEmpty());
  }
}
