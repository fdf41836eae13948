package io.quarry.coordinator.run;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * When a run deserves a person's attention, from its lifecycle reports (never from telemetry, so fast mode keeps
 * them): a shard whose loss became NaN or infinite (the first time per shard), and a run none of whose running
 * shards has advanced for {@code alerts.stalled-after} (once, until one advances again). Plain logic: time comes in
 * as an argument.
 */
public final class RunAlerts {
  /** Kinds of alert, as the {@code alert} event's {@code kind}. */
  public static final String NONFINITE_LOSS = "nonfinite_loss";
  public static final String STALLED = "stalled";

  /**
   * One alert.
   *
   * @param shard the shard it is about; -1 for the whole run
   * @param step the shard's step (the run's steps for a stall)
   * @param message one line for people
   */
  public record Alert(String kind, int shard, String workerId, long step, String message) {}

  private final long stalledAfterMs;
  private final Set<Integer> nonFinite = new HashSet<>();
  private final Set<Integer> hadFiniteLoss = new HashSet<>();
  /** Per worker, the non-finite losses it had counted at its last report. */
  private final Map<String, Long> nonFiniteCounted = new HashMap<>();
  private final Map<Integer, Long> stepOf = new HashMap<>();
  private long lastAdvanceMs;
  private boolean stalled;

  /** Alerts of a run that starts (or is recovered) at {@code nowMs}; {@code stalledAfterMs} 0 = no stall alerts. */
  public RunAlerts(long stalledAfterMs, long nowMs) {
    this.stalledAfterMs = stalledAfterMs;
    this.lastAdvanceMs = nowMs;
  }

  /**
   * A shard's progress report: {@code loss} its last step's loss (NaN before the first, or when the trainer reports
   * none), {@code nonFiniteLosses} its worker's running count of non-finite per-sample losses for the run. An alert
   * the first time this shard's loss is infinite, or NaN after a finite one, or its worker counted new non-finite
   * losses.
   */
  public Optional<Alert> progressed(int shard, String workerId, long step, float loss, long nonFiniteLosses,
      long nowMs) {
    Long before = stepOf.put(shard, step);
    if (before == null || step > before) {
      lastAdvanceMs = nowMs;
      stalled = false;
    }
    long counted = nonFiniteCounted.getOrDefault(workerId, 0L);
    nonFiniteCounted.put(workerId, Math.max(counted, nonFiniteLosses));
    boolean newlyCounted = nonFiniteLosses > counted;
    boolean infinite = Float.isInfinite(loss);
    boolean nanAfterFinite = Float.isNaN(loss) && hadFiniteLoss.contains(shard);
    if (Float.isFinite(loss)) hadFiniteLoss.add(shard);
    if (!(infinite || nanAfterFinite || newlyCounted) || !nonFinite.add(shard)) return Optional.empty();
    String what = infinite || nanAfterFinite ? "loss " + loss : (nonFiniteLosses - counted) + " non-finite per-sample loss(es)";
    return Optional.of(new Alert(NONFINITE_LOSS, shard, workerId, step,
        "shard " + shard + " on " + workerId + ": " + what + " at step " + step + " (the model may have diverged)"));
  }

  /**
   * Checks for a stall at {@code nowMs}: an alert when shards are running and none has advanced for
   * {@code stalled-after}, once until one advances again.
   */
  public Optional<Alert> check(Collection<Integer> runningShards, long runSteps, long nowMs) {
    if (runningShards.isEmpty()) {
      lastAdvanceMs = nowMs;
      return Optional.empty();
    }
    if (stalledAfterMs <= 0 || stalled || nowMs - lastAdvanceMs < stalledAfterMs) return Optional.empty();
    stalled = true;
    return Optional.of(new Alert(STALLED, -1, null, runSteps, "no running shard (" + runningShards.size()
        + ") has advanced for " + (nowMs - lastAdvanceMs) / 1000 + " s (alerts.stalled-after = "
        + stalledAfterMs / 1000 + " s)"));
  }
}
