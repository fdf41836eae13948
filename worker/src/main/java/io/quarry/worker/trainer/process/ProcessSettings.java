package io.quarry.worker.trainer.process;

import io.quarry.config.RunConfig;
import java.time.Duration;
import java.util.List;

/**
 * {@code process.*}: the section of a run config that the trainer running a program per shard attempt reads
 * ({@link ProcessTrainerSpec} declares its keys).
 *
 * @param command the program and its arguments, placeholders not yet filled in
 * @param samples the program's dataset size
 * @param workdir the program's working directory; empty = the worker JVM's
 * @param metrics extra metric names the plain-log parser looks for
 * @param grace how long a program has to exit after SIGTERM before SIGKILL
 * @param hangTimeout a program silent on stdout this long is killed; {@link Duration#ZERO} = never
 */
public record ProcessSettings(
    List<String> command, long samples, String workdir, List<String> metrics, Duration grace, Duration hangTimeout) {

  /** The process section of {@code config}. */
  public static ProcessSettings of(RunConfig config) {
    var raw = config.raw();
    return new ProcessSettings(
        List.copyOf(raw.getStringList("process.command")),
        raw.getLong("process.samples"),
        raw.getString("process.workdir"),
        List.copyOf(raw.getStringList("process.metrics")),
        raw.getDuration("process.grace"),
        raw.getDuration("process.hang-timeout"));
  }
}
