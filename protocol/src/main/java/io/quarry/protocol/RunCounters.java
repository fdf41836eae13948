package io.quarry.protocol;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Values of the {@link RunCounter}s, by id. Immutable: every change returns a new value. A worker reports its
 * counters for a run as running totals (everything it has counted for the run so far), so a report that arrives twice
 * or late changes nothing once combined with {@link #max}.
 *
 * @param values one value per {@link RunCounter}, at its {@link RunCounter#id()}
 */
public record RunCounters(long[] values) implements QuarryMessage {
  /** Every counter at zero. */
  public static final RunCounters ZERO = new RunCounters(new long[RunCounter.values().length]);

  public RunCounters {
    if (values.length != RunCounter.values().length) {
      // A value from a node of another version: keep what both know.
      values = Arrays.copyOf(values, RunCounter.values().length);
    } else {
      values = values.clone();
    }
  }

  public long get(RunCounter counter) {
    return values[counter.id()];
  }

  /** These counters with {@code counter} increased by {@code delta} (or raised to it, for a {@code MAX} counter). */
  public RunCounters add(RunCounter counter, long delta) {
    long[] next = values.clone();
    next[counter.id()] = counter.kind() == RunCounter.Kind.MAX ? Math.max(next[counter.id()], delta) : next[counter.id()] + delta;
    return new RunCounters(next);
  }

  /** These counters with {@code counter} set to {@code value}. */
  public RunCounters with(RunCounter counter, long value) {
    long[] next = values.clone();
    next[counter.id()] = value;
    return new RunCounters(next);
  }

  /** The element-wise sum (the larger value for {@code MAX} counters): counters of several workers together. */
  public RunCounters plus(RunCounters other) {
    long[] next = values.clone();
    for (RunCounter counter : RunCounter.values()) {
      int id = counter.id();
      next[id] = counter.kind() == RunCounter.Kind.MAX ? Math.max(next[id], other.values[id]) : next[id] + other.values[id];
    }
    return new RunCounters(next);
  }

  /** The element-wise maximum: two reports of the same running totals, the newer one whichever came last. */
  public RunCounters max(RunCounters other) {
    long[] next = values.clone();
    for (int id = 0; id < next.length; id++) next[id] = Math.max(next[id], other.values[id]);
    return new RunCounters(next);
  }

  /** Every counter by its label, in id order. */
  public Map<String, Long> byLabel() {
    Map<String, Long> map = new LinkedHashMap<>();
    for (RunCounter counter : RunCounter.values()) map.put(counter.label(), values[counter.id()]);
    return map;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof RunCounters counters && Arrays.equals(values, counters.values);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(values);
  }

  @Override
  public String toString() {
    return "RunCounters" + byLabel();
  }
}
