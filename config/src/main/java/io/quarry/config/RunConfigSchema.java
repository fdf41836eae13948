package io.quarry.config;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * Every run-config key Quarry knows: the core keys (this module's {@code reference.conf} under {@code quarry.run}),
 * then each trainer's section ({@link TrainerSpec}s on the class path, by name). Built once per class loader.
 */
public final class RunConfigSchema {
  private static final long MAX = Long.MAX_VALUE;

  /** The trainers on the class path, by name. */
  private static final Map<String, TrainerSpec> TRAINERS = discoverTrainers();

  /** The keys every run has, whatever its trainer. */
  private static final List<ConfigKey> CORE = List.of(
      ConfigKey.text("name", "a display name for the run"),
      ConfigKey.choice("trainer", List.copyOf(TRAINERS.keySet()), "which trainer trains the shards"),
      ConfigKey.integer("epochs", 1, 1_000_000, "passes over each shard"),
      ConfigKey.integer("batch-size", 1, 1 << 24, "samples per training step"),
      ConfigKey.longInt("seed", Long.MIN_VALUE, MAX, "seed of every random choice in the run"),
      ConfigKey.integer("priority", -1_000_000, 1_000_000, "run queue order: higher first, then submission order"),
      ConfigKey.integer("shards", 0, 1_000_000, "number of shards; 0 = one per worker at run start"),
      ConfigKey.integer("min-workers", 0, 1_000_000,
          "gang start: the run waits in the queue, holding no worker, until this many workers may serve it at once; 0 = "
              + "start with any"),
      ConfigKey.integer("max-attempts", 1, 1000, "trainer failures of one shard before the run fails"),
      ConfigKey.decimal("stragglers.factor", 1.0, 1000.0, "a shard slower than this times the others' median is a straggler"),
      ConfigKey.duration("stragglers.window", 0, 3_600_000, "how long a shard must stay that slow to be reported"),
      ConfigKey.bool("speculative", "also run a straggler's shard on an idle worker; the first to finish wins"),
      ConfigKey.integer("checkpoint.every-steps", 1, Integer.MAX_VALUE, "checkpoint every this many shard steps"),
      ConfigKey.decimal("optimizer.lr", 0.0, 1e6, "base learning rate"),
      ConfigKey.choice("sync.mode", List.of("none", "average", "allreduce"),
          "none = a model per shard; average = parameters averaged across the run's shards every sync.every steps; "
              + "allreduce = gradients averaged every step before the optimizer step (trainers that support it)"),
      ConfigKey.choice("sync.transport", List.of("ring", "coordinator"),
          "ring = peer to peer between the workers' data planes; coordinator = averaging through the run actor "
              + "(a fallback for workers that cannot reach each other; sync.mode = average only)"),
      ConfigKey.longInt("sync.every", 1, 1L << 40, "sync.mode = average: steps between averaging rounds"),
      ConfigKey.duration("sync.timeout", 10, 3_600_000, "an averaging round completes without shards that do not answer within this"),
      ConfigKey.integer("hard-examples.k", 1, 1 << 24, "size of each worker's buffer and of the merged buffer"),
      ConfigKey.choice("hard-examples.window", List.of("interval", "run"), "buffer restarts at each merge, or keeps the run's highest"),
      ConfigKey.choice("hard-examples.merge-mode", List.of("round-robin", "top-k"), "how buffers are merged"),
      ConfigKey.duration("hard-examples.merge-interval", 10, 86_400_000, "how often buffers are all-gathered"),
      ConfigKey.duration("hard-examples.merge-timeout", 10, 3_600_000, "a worker slower than this is left out of a merge"),
      ConfigKey.decimal("hard-examples.threshold-quantile", 0.0, 1.0, "quantile of all losses used as the hard threshold"),
      ConfigKey.bool("alerts.stop-on-nonfinite", "stop the run when a loss becomes NaN or infinite (always an alert event)"),
      ConfigKey.duration("alerts.stalled-after", 0, 604_800_000L,
          "an alert when no running shard has advanced for this long; 0 = never"),
      ConfigKey.bool("telemetry.enabled", "false = fast mode, lifecycle events only"),
      ConfigKey.integer("telemetry.every-steps", 1, Integer.MAX_VALUE, "emit a step event every this many steps"),
      ConfigKey.integer("telemetry.buffer-size", 16, 1 << 24, "step events queued per shard before drops"),
      ConfigKey.integer("telemetry.batch-size", 1, 1 << 20, "events per batch to the coordinator (at most what fits the transport's frame)"),
      ConfigKey.duration("telemetry.batch-interval", 1, 60_000, "a partial batch is sent after this long"),
      ConfigKey.bool("plots.enabled", "write PNG plots of the run to <run dir>/plots/ when it ends"),
      ConfigKey.text("init.from", "start every shard from another run's parameters: RUN_ID, RUN_ID:best or "
          + "RUN_ID:last (empty: from the seed)"));

  private static final Map<String, ConfigKey> KEYS = index();

  private RunConfigSchema() {}

  /** Every key, core keys first, then each trainer's section in trainer-name order. */
  public static List<ConfigKey> keys() {
    return List.copyOf(KEYS.values());
  }

  /** The key at {@code path}, or {@code null}. */
  public static ConfigKey key(String path) {
    return KEYS.get(path);
  }

  /** The names of the trainers on the class path, sorted. */
  public static List<String> trainerNames() {
    return List.copyOf(TRAINERS.keySet());
  }

  /** The trainers on the class path, by name. */
  public static List<TrainerSpec> trainers() {
    return List.copyOf(TRAINERS.values());
  }

  /** The trainer called {@code name}; fails with the names there are. */
  public static TrainerSpec trainer(String name) {
    TrainerSpec spec = TRAINERS.get(name);
    if (spec == null) {
      throw new RunConfigException("config key 'trainer': invalid value " + name + "; allowed: one of "
          + String.join(", ", TRAINERS.keySet()));
    }
    return spec;
  }

  /** The known key nearest to {@code path}, for "did you mean" hints: the first of {@link #suggestions}. */
  public static String nearest(String path) {
    return suggestions(path).get(0);
  }

  /**
   * The known keys a person who typed {@code path} most likely meant, best first (never empty). Keys whose last
   * segments are exactly what was typed come first, all of them ({@code merge-interval} is
   * {@code hard-examples.merge-interval}; {@code every-steps} is {@code checkpoint.every-steps} or
   * {@code telemetry.every-steps}); otherwise the one key nearest by edit distance, comparing what was typed with
   * the whole key and with its last segments alike ({@code merge-intervall} is also
   * {@code hard-examples.merge-interval}).
   */
  public static List<String> suggestions(String path) {
    List<String> trailing = new ArrayList<>();
    for (String candidate : KEYS.keySet()) {
      if (candidate.endsWith("." + path)) trailing.add(candidate);
    }
    if (!trailing.isEmpty()) return List.copyOf(trailing);
    int segments = path.split("\\.", -1).length;
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String candidate : KEYS.keySet()) {
      int distance = Math.min(editDistance(path, candidate), editDistance(path, lastSegments(candidate, segments)));
      if (distance < bestDistance) {
        bestDistance = distance;
        best = candidate;
      }
    }
    return List.of(best);
  }

  /** The last {@code count} dot-separated segments of {@code path} (all of it when it has fewer). */
  private static String lastSegments(String path, int count) {
    int start = path.length();
    for (int i = 0; i < count && start > 0; i++) start = path.lastIndexOf('.', start - 1);
    return start < 0 ? path : path.substring(start + 1);
  }

  private static Map<String, TrainerSpec> discoverTrainers() {
    Map<String, TrainerSpec> byName = new TreeMap<>();
    for (TrainerSpec spec : ServiceLoader.load(TrainerSpec.class, RunConfigSchema.class.getClassLoader())) {
      TrainerSpec other = byName.putIfAbsent(spec.name(), spec);
      if (other != null && other.getClass() != spec.getClass()) {
        throw new IllegalStateException("two trainers named '" + spec.name() + "' on the class path: "
            + other.getClass().getName() + " and " + spec.getClass().getName());
      }
    }
    return byName;
  }

  private static Map<String, ConfigKey> index() {
    Map<String, ConfigKey> byPath = new LinkedHashMap<>();
    Map<String, String> owner = new LinkedHashMap<>();
    for (ConfigKey key : CORE) {
      byPath.put(key.path(), key);
      owner.put(key.path(), "the core keys");
    }
    List<TrainerSpec> specs = new ArrayList<>(TRAINERS.values());
    specs.sort(Comparator.comparing(TrainerSpec::name));
    for (TrainerSpec spec : specs) {
      for (ConfigKey key : spec.keys()) {
        String first = owner.putIfAbsent(key.path(), "trainer " + spec.name());
        if (first != null) {
          throw new IllegalStateException("config key '" + key.path() + "' is declared by " + first
              + " and by trainer " + spec.name() + "; a key belongs to one section");
        }
        byPath.put(key.path(), key);
      }
    }
    return byPath;
  }

  static int editDistance(String a, String b) {
    int[] previous = new int[b.length() + 1];
    int[] current = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) previous[j] = j;
    for (int i = 1; i <= a.length(); i++) {
      current[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        current[j] = Math.min(substitution, Math.min(previous[j] + 1, current[j - 1] + 1));
      }
      int[] swap = previous;
      previous = current;
      current = swap;
    }
    return previous[b.length()];
  }
}
