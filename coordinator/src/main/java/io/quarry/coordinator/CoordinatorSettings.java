package io.quarry.coordinator;

import com.typesafe.config.Config;
import io.quarry.coordinator.run.HardExamplePayloadFiles;
import java.time.Duration;

/**
 * The coordinator's settings, {@code quarry.coordinator} in the actor system's config, read once.
 *
 * @param maxConcurrentRuns runs that train at once at most; 0 for no limit
 * @param maxQueuedRuns runs that wait to start at most; a submission past it is refused; 0 for no limit
 * @param sizingTimeout how long admission waits for a worker to size a run's data before it sizes it itself
 * @param recoveryGrace how long a recovered run waits for workers to reclaim their running attempts
 * @param progressInterval how often a run tells its watchers and the coordinator how it goes
 * @param payloadLimits caps on the hard-example payloads a run writes
 * @param payloadsFinalWait how long a run waits after its final merge for that merge's payloads
 */
public record CoordinatorSettings(
    int maxConcurrentRuns,
    int maxQueuedRuns,
    Duration sizingTimeout,
    Duration recoveryGrace,
    Duration progressInterval,
    HardExamplePayloadFiles.Limits payloadLimits,
    Duration payloadsFinalWait) {

  /** The dispatcher run actors and the coordinator run on: they write files and the run store. */
  static final String IO_DISPATCHER = "quarry.coordinator.io-dispatcher";

  /** The dispatcher for work that blocks for long: sizing a run's data, creating its directory and records. */
  static final String BLOCKING_DISPATCHER = "quarry.coordinator.blocking-dispatcher";

  /** The settings under {@code quarry.coordinator} of {@code config}. */
  public static CoordinatorSettings from(Config config) {
    Config coordinator = config.getConfig("quarry.coordinator");
    Config payloads = coordinator.getConfig("payloads");
    return new CoordinatorSettings(
        coordinator.getInt("max-concurrent-runs"),
        coordinator.getInt("max-queued-runs"),
        coordinator.getDuration("sizing-timeout"),
        coordinator.getDuration("recovery-grace"),
        coordinator.getDuration("progress-interval"),
        new HardExamplePayloadFiles.Limits((int) Math.min(Integer.MAX_VALUE, payloads.getBytes("max-bytes")),
            payloads.getInt("max-per-run")),
        payloads.getDuration("final-wait"));
  }
}
