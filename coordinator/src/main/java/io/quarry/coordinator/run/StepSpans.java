package io.quarry.coordinator.run;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The steps each attempt of one shard trained, as a range {@code [from, to)} per attempt, and from them how many
 * steps were trained more than once: the sum of the ranges' lengths less the length of their union. A range grows
 * with the attempt's progress and checkpoint reports and is made exact by its final report (end step and steps
 * trained), which counts even when the run no longer follows the attempt: an attempt fenced while its coordinator
 * failed over reports where it really stopped.
 */
final class StepSpans {
  private final Map<Integer, long[]> byAttempt = new TreeMap<>();

  /** The attempt starts (or is handed over) at {@code step}; what it trained before under this run is replaced. */
  void begin(int attempt, long step) {
    byAttempt.put(attempt, new long[] {step, step});
  }

  /** The attempt reached {@code step}. An attempt not begun here (it was running before a recovery) begins there. */
  void reach(int attempt, long step) {
    long[] span = byAttempt.computeIfAbsent(attempt, a -> new long[] {step, step});
    span[1] = Math.max(span[1], step);
  }

  /** The attempt's final report: it ended at {@code endStep} after training {@code stepsTrained} steps. */
  void end(int attempt, long endStep, long stepsTrained) {
    byAttempt.put(attempt, new long[] {Math.max(0, endStep - stepsTrained), endStep});
  }

  /** The attempt failed after training {@code stepsTrained} steps from where it began (its end is not reported). */
  void endAfter(int attempt, long stepsTrained) {
    long[] span = byAttempt.get(attempt);
    if (span != null) span[1] = Math.max(span[1], span[0] + stepsTrained);
  }

  /** Forgets every attempt (the shard's steps were re-cut: a process group changed its world size). */
  void clear() {
    byAttempt.clear();
  }

  /** The furthest step any attempt trained to; 0 when none did. */
  long furthest() {
    long furthest = 0;
    for (long[] span : byAttempt.values()) furthest = Math.max(furthest, span[1]);
    return furthest;
  }

  /** Steps trained by more than one attempt, counted once per extra time. */
  long redone() {
    List<long[]> spans = new ArrayList<>(byAttempt.values());
    spans.sort((a, b) -> Long.compare(a[0], b[0]));
    long total = 0;
    long union = 0;
    long coveredTo = Long.MIN_VALUE;
    for (long[] span : spans) {
      total += span[1] - span[0];
      long from = Math.max(span[0], coveredTo);
      if (span[1] > from) {
        union += span[1] - from;
        coveredTo = span[1];
      }
    }
    return total - union;
  }
}
