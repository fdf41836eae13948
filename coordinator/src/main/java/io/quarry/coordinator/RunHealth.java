package io.quarry.coordinator;

import io.quarry.config.RunConfig;
import io.quarry.coordinator.run.RunAlerts;
import io.quarry.coordinator.run.RunDirectory;
import io.quarry.coordinator.run.RunProgress;
import io.quarry.coordinator.run.RunRecords;
import io.quarry.coordinator.run.ShardTable;
import io.quarry.coordinator.run.StragglerDetector;
import io.quarry.protocol.RunCommand.ShardProgressed;
import io.quarry.protocol.RunCounter;
import io.quarry.protocol.ShardState;
import java.time.Clock;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;

/**
 * The run's health, judged from its lifecycle reports alone (so fast mode is judged like any run): stragglers, a
 * shard whose pace falls behind the median of the others ({@link StragglerDetector}), and alerts, a non-finite loss
 * or a run that stalled ({@link RunAlerts}); each is written as an event, counted and logged. What the run does about
 * them (a speculative copy, a stop) is its actor's to decide.
 */
final class RunHealth {
  /** What a check found: stragglers not seen before, and whether an alert was raised. */
  record Checked(int stragglers, boolean alerted) {}

  private final String runId;
  private final RunConfig config;
  private final ShardTable shards;
  private final StragglerDetector stragglers;
  private final RunAlerts alerts;
  private final RunDirectory directory;
  private final RunRecords records;
  private final RunProgress progress;
  private final Clock clock;
  private final Logger log;

  RunHealth(String runId, RunConfig config, ShardTable shards, RunDirectory directory, RunRecords records,
      RunProgress progress, Clock clock, Logger log) {
    this.runId = runId;
    this.config = config;
    this.shards = shards;
    this.stragglers = new StragglerDetector(config.stragglerFactor, config.stragglerWindow.toMillis());
    this.alerts = new RunAlerts(config.alerts.stalledAfter().toMillis(), clock.millis());
    this.directory = directory;
    this.records = records;
    this.progress = progress;
    this.clock = clock;
    this.log = log;
  }

  /** The shard's attempt reached {@code step}: its pace counts if it is the main attempt (copies are not judged). */
  void pace(int shard, int attempt, long step) {
    if (shards.shard(shard).attempt() == attempt) stragglers.progress(shard, attempt, step, clock.millis());
  }

  /** The current attempt of a shard reported progress: an alert, if its loss is not finite. */
  Optional<RunAlerts.Alert> progressed(ShardProgressed report) {
    return alerts.progressed(report.shard(), report.workerId(), report.step(), report.loss(),
        report.counters().get(RunCounter.NONFINITE_LOSSES), clock.millis());
  }

  /** True when {@code alert} stops the run ({@code alerts.stop-on-nonfinite}). */
  boolean stops(RunAlerts.Alert alert) {
    return alert.kind().equals(RunAlerts.NONFINITE_LOSS) && config.alerts.stopOnNonFinite();
  }

  /** Writes, counts and logs an alert; {@code stopping}: the run stops because of it. */
  void raise(RunAlerts.Alert alert, boolean stopping) {
    directory.writeEvent(records.alert(alert, stopping));
    progress.count(RunCounter.ALERTS, 1);
    log.warn("run {}: alert: {}", runId, alert.message());
  }

  /** On the progress tick: new stragglers among the running shards, and a stalled run. */
  Checked check() {
    Set<Integer> running = new HashSet<>();
    for (ShardTable.Shard shard : shards.active()) if (shard.state() == ShardState.RUNNING) running.add(shard.index);
    long now = clock.millis();
    List<Integer> found = stragglers.check(running, now);
    for (int index : found) {
      ShardTable.Shard shard = shards.shard(index);
      directory.writeEvent(records.straggler(index, shard.attempt(), shard.workerId(), stragglers.msPerStep(index, now),
          stragglers.medianOfOthers(running, index, now), config.stragglerFactor, config.speculative));
      log.warn("run {}: shard {} on {} is a straggler", runId, index, shard.workerId());
    }
    Optional<RunAlerts.Alert> stalled = alerts.check(List.copyOf(running), shards.stepsReached(), now);
    stalled.ifPresent(alert -> raise(alert, false));
    return new Checked(found.size(), stalled.isPresent());
  }

  boolean isStraggler(int shard) {
    return stragglers.isStraggler(shard);
  }

  /** The shard is done: its pace is judged no more. */
  void finished(int shard) {
    stragglers.finish(shard);
  }
}
