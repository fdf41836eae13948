package io.quarry.config;

import java.time.Duration;
import java.util.List;

/**
 * What a trainer adds to the run config: its section of the schema (the keys it reads, with their types, ranges and
 * meaning), the checks that span several of its keys, and the size of a run's dataset. Implementations are found with
 * {@link java.util.ServiceLoader} ({@code META-INF/services/io.quarry.config.TrainerSpec}), beside the trainer's
 * factory: a trainer that comes as a jar of its own adds its keys to every place that reads run configs (validation
 * and its "did you mean", {@code quarry config --schema}, the coordinator's sizing of a run) by being on the class
 * path. The defaults of its keys live in its jar's {@code reference.conf} under {@code quarry.run}.
 */
public interface TrainerSpec {
  /** The value of the run config's {@code trainer} key that selects this trainer. */
  String name();

  /** What the trainer trains, in one line, for the schema listing. */
  String description();

  /**
   * The keys this trainer reads (paths without the {@code quarry.run.} prefix). Every key of every trainer on the
   * class path is valid in every run config, whichever trainer it selects (a run file may name keys for several).
   */
  List<ConfigKey> keys();

  /**
   * Checks that span several keys, for a run that selects this trainer; throws {@link RunConfigException} naming the
   * key, the value and what is allowed. Reads no files (that is {@link #samples}'s job).
   */
  default void check(RunConfig config) {}

  /**
   * How many samples the run's training data holds: what the coordinator splits into shards (sample ids
   * {@code 0 .. n-1}). It may read files (a csv's rows, an image folder's listing), so callers run it where blocking
   * is allowed, never on an actor's thread.
   *
   * @throws RunConfigException when the data is missing or unreadable, naming the key, the path and what was expected
   */
  long samples(RunConfig config);

  /**
   * The ranks of one process group when the run's shards train together as one (each shard a rank, started and
   * restarted together: {@code process.distributed = torch}); 0 when every shard trains on its own. Reads no files.
   */
  default int ranks(RunConfig config) {
    return 0;
  }

  /**
   * The fewest ranks a restart of the process group may start with when not every worker is free (elastic, as
   * torchrun's {@code --nnodes MIN:MAX}); {@link #ranks} when the group restarts only whole. Reads no files.
   */
  default int minRanks(RunConfig config) {
    return ranks(config);
  }

  /**
   * How long a restarting process group that holds at least {@link #minRanks} workers, but not one per rank, waits
   * for more before it starts smaller (torchrun's rendezvous {@code last_call_timeout}).
   */
  default Duration rankLastCall(RunConfig config) {
    return Duration.ZERO;
  }

  /**
   * The programs a run of this trainer starts on the workers, as the config names them (an absolute path, or a name
   * looked up on the worker's {@code PATH}): a worker runs a run only when its operator allows every one of them
   * ({@code quarry worker --allow-program}). None for trainers that run no program of the user's.
   */
  default List<String> programs(RunConfig config) {
    return List.of();
  }

  /**
   * The files and directories a run of this trainer reads its data from, each with the config key that names it: a
   * worker reads them only under its data roots ({@code quarry worker --data-root}). None for trainers whose data is
   * made, not read.
   */
  default List<DataPath> dataPaths(RunConfig config) {
    return List.of();
  }

  /**
   * The keys of this trainer's section that a stopped or failed run may change when it is resumed
   * ({@link RunResume}): keys that change neither what a shard's steps are nor how its checkpoints are read (pacing,
   * fault injection, time limits). None by default: a resumed run keeps the trainer's section as it was.
   */
  default List<String> resumableKeys() {
    return List.of();
  }

  /** A path a run reads data from, and the config key that names it (for the error a person reads). */
  record DataPath(String key, String path) {}
}
