package io.quarry.coordinator.http;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;

/**
 * At most {@code perMinute} run submissions per caller in any 60 seconds (a sliding window): the API answers 429 past
 * it, with the seconds until the caller may submit again. Thread-safe; time comes in as an argument.
 */
final class SubmissionLimiter {
  private static final long WINDOW_MS = 60_000;

  private final int perMinute;
  private final Map<String, ArrayDeque<Long>> recent = new HashMap<>();

  /** {@code perMinute <= 0}: no limit. */
  SubmissionLimiter(int perMinute) {
    this.perMinute = perMinute;
  }

  /**
   * Counts a submission of {@code callerId} at {@code nowMs}, or refuses it: empty when it may go ahead, else the
   * milliseconds until the oldest submission in the window leaves it.
   */
  synchronized OptionalLong tryAcquire(String callerId, long nowMs) {
    if (perMinute <= 0) return OptionalLong.empty();
    ArrayDeque<Long> times = recent.computeIfAbsent(callerId, id -> new ArrayDeque<>());
    while (!times.isEmpty() && times.peekFirst() <= nowMs - WINDOW_MS) times.pollFirst();
    if (times.size() >= perMinute) return OptionalLong.of(times.peekFirst() + WINDOW_MS - nowMs);
    times.addLast(nowMs);
    if (recent.size() > 10_000) recent.values().removeIf(ArrayDeque::isEmpty); // callers come and go
    return OptionalLong.empty();
  }

  int perMinute() {
    return perMinute;
  }
}
