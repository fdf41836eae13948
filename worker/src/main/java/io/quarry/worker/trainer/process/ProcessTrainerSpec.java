package io.quarry.worker.trainer.process;

import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.TrainerSpec;
import java.time.Duration;
import java.util.List;

/** {@code trainer = process}: the section of the run config the program-per-shard trainer reads ({@code process.*}). */
public final class ProcessTrainerSpec implements TrainerSpec {
  /** {@code process.distributed = none}: every shard's program trains on its own. */
  public static final String DISTRIBUTED_NONE = "none";
  /** {@code process.distributed = torch}: the shards are the ranks of one {@code torch.distributed} group. */
  public static final String DISTRIBUTED_TORCH = "torch";

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
            "trainer = process: a program silent on stdout this long is killed and the shard fails; 0 = never"),
        ConfigKey.choice("process.distributed", List.of(DISTRIBUTED_NONE, DISTRIBUTED_TORCH),
            "trainer = process: torch = the shards are the ranks of one torch.distributed group (torchrun's "
                + "environment, gang start, group restart); none = each shard on its own"),
        ConfigKey.integer("process.ranks", 0, 100_000,
            "trainer = process, process.distributed = torch: the group's ranks (one shard each); 0 = shards"),
        ConfigKey.integer("process.min-ranks", 0, 100_000,
            "trainer = process, process.distributed = torch: the fewest ranks a restart may start with when workers "
                + "are missing (elastic); 0 = process.ranks (restart only whole)"),
        ConfigKey.duration("process.last-call", 0, 3_600_000,
            "trainer = process, process.min-ranks below the ranks: how long a restarting group with at least "
                + "min-ranks workers waits for the rest before it starts smaller"));
  }

  @Override
  public void check(RunConfig config) {
    if (config.raw().getStringList("process.command").isEmpty()) {
      throw new RunConfigException("config key 'process.command': empty, but trainer = process needs the program to run; "
          + "allowed: a non-empty list of strings, e.g. process.command = [\"python3\", \"train.py\", \"--shard\", \"{shard}\"]");
    }
    if (!distributed(config)) return;
    int ranks = config.raw().getInt("process.ranks");
    if (ranks > 0 && config.shards > 0 && ranks != config.shards) {
      throw new RunConfigException("config key 'process.ranks': " + ranks + ", but shards = " + config.shards
          + " (with process.distributed = torch every shard is one rank); allowed: process.ranks = " + config.shards
          + ", or 0 to take shards");
    }
    if (ranks == 0 && config.shards == 0) {
      throw new RunConfigException("config key 'process.ranks': 0 and shards = 0, but process.distributed = torch "
          + "needs the size of its process group; allowed: process.ranks = N (or shards = N), N >= 1");
    }
    int groupRanks = ranks > 0 ? ranks : config.shards;
    if (config.minWorkers > groupRanks) {
      throw new RunConfigException("config key 'min-workers': " + config.minWorkers + " is more than the " + groupRanks
          + " ranks of the process group (one worker each, and the run starts with all of them at once); allowed: 0 to "
          + groupRanks);
    }
    int minRanks = config.raw().getInt("process.min-ranks");
    if (minRanks > groupRanks) {
      throw new RunConfigException("config key 'process.min-ranks': " + minRanks + " is more than the " + groupRanks
          + " ranks of the process group (the fewest a restart may start with); allowed: 1 to " + groupRanks
          + ", or 0 for all of them");
    }
    if (config.speculative) {
      throw new RunConfigException("config key 'speculative': on cannot be combined with process.distributed = torch "
          + "(a copy of a rank would join the process group twice); allowed: speculative = off");
    }
    if (config.sync.average()) {
      throw new RunConfigException("config key 'sync.mode': average cannot be combined with process.distributed = "
          + "torch (the process group synchronises itself); allowed: sync.mode = none");
    }
  }

  /** {@code process.distributed = torch}: the ranks of the group, {@code process.ranks} or else {@code shards}. */
  @Override
  public int ranks(RunConfig config) {
    if (!distributed(config)) return 0;
    int ranks = config.raw().getInt("process.ranks");
    return ranks > 0 ? ranks : config.shards;
  }

  /** {@code process.min-ranks}, or every rank when it is 0. */
  @Override
  public int minRanks(RunConfig config) {
    int ranks = ranks(config);
    int minRanks = ranks == 0 ? 0 : config.raw().getInt("process.min-ranks");
    return minRanks > 0 ? Math.min(minRanks, ranks) : ranks;
  }

  @Override
  public Duration rankLastCall(RunConfig config) {
    return config.raw().getDuration("process.last-call");
  }

  private static boolean distributed(RunConfig config) {
    return DISTRIBUTED_TORCH.equals(config.raw().getString("process.distributed"));
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
