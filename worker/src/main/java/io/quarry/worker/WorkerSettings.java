package io.quarry.worker;

import com.typesafe.config.Config;
import io.quarry.protocol.WorkerAllowance;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * {@code quarry.worker}, read once when a worker starts.
 *
 * @param telemetryDrainTimeout how long an ended attempt waits for its telemetry to drain before it reports anyway
 * @param telemetryAckTimeout how long a telemetry batch waits for the run's acknowledgement before it is sent again
 * @param syncWaitMargin added to twice the run's {@code sync.timeout}: how long a trainer waits for an average
 * @param progressInterval how often the running attempt's progress is reported ({@code ShardProgressed})
 * @param maxPause a running attempt stops writing, and is stopped, when the worker was paused longer; zero = never
 * @param writeLease a running attempt commits a checkpoint only while its coordinator's node answered a probe sent
 *     this recently; zero = no lease (local mode, or a coordinator in this JVM)
 * @param allowance what this worker's operator allows its runs: programs and data roots
 * @param payloads the limits on hard-example payloads
 * @param hostReportInterval how often the host's load is reported to the coordinator; zero = never
 * @param programsFirst whether this JVM's threads yield the CPU to the programs it starts (see ProgramsFirst)
 */
record WorkerSettings(
    Duration telemetryDrainTimeout,
    Duration telemetryAckTimeout,
    Duration syncWaitMargin,
    Duration progressInterval,
    Duration maxPause,
    Duration writeLease,
    WorkerAllowance allowance,
    PayloadRendering.Limits payloads,
    Duration hostReportInterval,
    boolean programsFirst) {
  /** Trainers run here: a thread of its own per attempt. */
  static final String TRAINER_DISPATCHER = "quarry.worker.trainer-dispatcher";
  /** Payload renderers run here. */
  static final String PAYLOAD_DISPATCHER = "quarry.worker.payload-dispatcher";
  /** Runs are sized here (reading a csv's rows, listing an image folder). */
  static final String SIZING_DISPATCHER = "quarry.worker.sizing-dispatcher";

  /** From the {@code quarry.worker} section. */
  static WorkerSettings from(Config worker) {
    return new WorkerSettings(
        worker.getDuration("telemetry-drain-timeout"),
        worker.getDuration("telemetry-ack-timeout"),
        worker.getDuration("sync-wait-margin"),
        worker.getDuration("progress-interval"),
        worker.getDuration("max-pause"),
        worker.getDuration("write-lease"),
        new WorkerAllowance(worker.getBoolean("allow-any-program"), absolute(worker, "allow-programs"),
            absolute(worker, "data-roots"), worker.getString("only-run")),
        PayloadRendering.Limits.from(worker.getConfig("payloads")),
        worker.getDuration("host-report-interval"),
        worker.getBoolean("programs-first"));
  }

  /** These settings with every message they size kept within {@code messageBytes} (this node's frame's budget). */
  WorkerSettings fitTo(int messageBytes) {
    return new WorkerSettings(telemetryDrainTimeout, telemetryAckTimeout, syncWaitMargin, progressInterval, maxPause,
        writeLease, allowance, payloads.fitTo(messageBytes), hostReportInterval, programsFirst);
  }

  /** The paths under {@code key}, each made absolute and normalized (relative ones against the working directory). */
  private static List<String> absolute(Config worker, String key) {
    return worker.getStringList(key).stream()
        .map(path -> Path.of(path).toAbsolutePath().normalize().toString()).toList();
  }
}
