package io.quarry.coordinator.run;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds stragglers among a run's running shards: a shard whose step time stays above {@code factor} times the
 * median step time of the run's other shards — those running and those that finished, at the pace they finished
 * at — for {@code windowMs}. Comparing with the others (not with a median that includes the shard itself) lets a
 * run of two shards find its straggler, and counting finished shards finds the last shard lagging behind. Step time is a moving
 * average of the time between progress reports, and a shard that reports no progress at all counts as at least as
 * slow as the time since its last report, so a hung shard is found too. Plain logic with the clock passed in.
 */
public final class StragglerDetector {
  private static final double SMOOTHING = 0.3;

  private static final class Pace {
    int attempt;
    long lastStep;
    long lastAtMs;
    double msPerStep = Double.NaN;
    long slowSinceMs = -1;
    boolean reported;
  }

  private final double factor;
  private final long windowMs;
  private final Map<Integer, Pace> paces = new HashMap<>();
  private final Map<Integer, Double> finished = new HashMap<>();

  public StragglerDetector(double factor, long windowMs) {
    this.factor = factor;
    this.windowMs = windowMs;
  }

  /** The shard's attempt has reached {@code step} at {@code nowMs}. A new attempt starts a new estimate. */
  public void progress(int shard, int attempt, long step, long nowMs) {
    Pace pace = paces.get(shard);
    if (pace == null || pace.attempt != attempt) {
      pace = new Pace();
      pace.attempt = attempt;
      pace.lastStep = step;
      pace.lastAtMs = nowMs;
      paces.put(shard, pace);
      return;
    }
    if (step <= pace.lastStep) return;
    double sample = (double) (nowMs - pace.lastAtMs) / (step - pace.lastStep);
    pace.msPerStep = Double.isNaN(pace.msPerStep) ? sample : SMOOTHING * sample + (1 - SMOOTHING) * pace.msPerStep;
    pace.lastStep = step;
    pace.lastAtMs = nowMs;
  }

  /** The shard's step time now, in ms, or NaN before two progress reports. */
  public double msPerStep(int shard, long nowMs) {
    Pace pace = paces.get(shard);
    if (pace == null) return Double.NaN;
    double silence = nowMs - pace.lastAtMs;
    if (Double.isNaN(pace.msPerStep)) return Double.NaN;
    return Math.max(pace.msPerStep, silence);
  }

  /** Shards of {@code running} that have just become stragglers (each attempt is reported once). */
  public List<Integer> check(Set<Integer> running, long nowMs) {
    List<Integer> found = new ArrayList<>();
    for (int shard : running) {
      Pace pace = paces.get(shard);
      double mine = msPerStep(shard, nowMs);
      if (pace == null || Double.isNaN(mine) || pace.reported) continue;
      double median = medianOfOthers(running, shard, nowMs);
      if (Double.isNaN(median) || mine <= factor * median) {
        pace.slowSinceMs = -1;
        continue;
      }
      if (pace.slowSinceMs < 0) pace.slowSinceMs = nowMs;
      if (nowMs - pace.slowSinceMs >= windowMs) {
        pace.reported = true;
        found.add(shard);
      }
    }
    return found;
  }

  /** The median step time of the run's other shards (running, or finished), or NaN if none has an estimate. */
  public double medianOfOthers(Set<Integer> running, int shard, long nowMs) {
    java.util.stream.DoubleStream runningOthers =
        running.stream().filter(other -> other != shard).mapToDouble(other -> msPerStep(other, nowMs));
    java.util.stream.DoubleStream finishedOthers = finished.entrySet().stream()
        .filter(entry -> entry.getKey() != shard && !running.contains(entry.getKey())).mapToDouble(Map.Entry::getValue);
    double[] others = java.util.stream.DoubleStream.concat(runningOthers, finishedOthers)
        .filter(value -> !Double.isNaN(value)).toArray();
    if (others.length == 0) return Double.NaN;
    Arrays.sort(others);
    int middle = others.length / 2;
    return others.length % 2 == 1 ? others[middle] : (others[middle - 1] + others[middle]) / 2;
  }

  /** True once the shard's current attempt has been reported a straggler. */
  public boolean isStraggler(int shard) {
    Pace pace = paces.get(shard);
    return pace != null && pace.reported;
  }

  /** The shard finished: its pace is kept (without the silence since) as a reference for the others. */
  public void finish(int shard) {
    Pace pace = paces.remove(shard);
    if (pace != null && !Double.isNaN(pace.msPerStep)) finished.put(shard, pace.msPerStep);
  }
}
