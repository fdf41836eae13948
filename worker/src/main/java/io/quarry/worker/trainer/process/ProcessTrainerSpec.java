package io.quarry.worker.trainer.process;

import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.TrainerSpec;
import java.util.List;

/** {@code trainer = process}: the section of the run config the program-per-shard trainer reads ({@code process.*}). */
public final class ProcessTrainerSpec implements TrainerSpec {
  @Override
  public String name() {
    return "process";
  }

  @Override
  public String description() {
    return "runs a program of yours per shard attempt and follows it through its stdout (examples/README.md)";
  }

  @Override
  public List<ConfigKey> keys() {
    return List.of(
        ConfigKey.stringList("process.command", "trainer = process: the program and its arguments, with {shard}-style placeholders"),
        ConfigKey.longInt("process.samples", 1, 1L << 40, "trainer = process: the size of the program's dataset"),
        ConfigKey.text("process.workdir", "trainer = process: the program's working directory; empty = the worker JVM's"),
        ConfigKey.stringList("process.metrics", "trainer = process: extra metric names parsed from plain log lines"),
        ConfigKey.duration("process.grace", 0, 3_600_000, "trainer = process: after SIGTERM, SIGKILL after this long"),
        ConfigKey.duration("process.hang-timeout", 0, 604_800_000,
            "trainer = process: a program silent on stdout this long is killed and the shard fails; 0 = never"));
  }

  @Override
  public void check(RunConfig config) {
    if (config.raw().getStringList("process.command").isEmpty()) {
      throw new RunConfigException("config key 'process.command': empty, but trainer = process needs the program to run; "
          + "allowed: a non-empty list of strings, e.g. process.command = [\"python3\", \"train.py\", \"--shard\", \"{shard}\"]");
    }
  }

  @Override
  public long samples(RunConfig config) {
    return config.raw().getLong("process.samples");
  }

  /** The program is the command's first word, placeholders and all (a placeholder there is refused by the worker). */
  @Override
  public List<String> programs(RunConfig config) {
    List<String> command = config.raw().getStringList("process.command");
    return command.isEmpty() ? List.of() : List.of(command.get(0));
  }
}
