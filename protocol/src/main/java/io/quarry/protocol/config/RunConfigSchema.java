package io.quarry.protocol.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Every run-config key Quarry knows. The defaults live in {@code reference.conf} under {@code quarry.run}. */
public final class RunConfigSchema {
  /**
   * Trainer names a run may ask for: the built-in ones, then those a trainer jar of its own adds under
   * {@code quarry.extra-trainers} in its {@code reference.conf} (name = description; objects merge across jars).
   */
  public static final List<String> TRAINERS = trainers();

  private static List<String> trainers() {
    List<String> names = new java.util.ArrayList<>(List.of("stub", "process", "djl"));
    for (String name : new java.util.TreeSet<>(
        com.typesafe.config.ConfigFactory.defaultReference().getObject("quarry.extra-trainers").keySet())) {
      if (!names.contains(name)) names.add(name);
    }
    return List.copyOf(names);
  }

  private static final long MAX = Long.MAX_VALUE;

  private static final Map<String, ConfigKey> KEYS = index(List.of(
      ConfigKey.text("name", "a display name for the run"),
      ConfigKey.choice("trainer", TRAINERS, "which trainer trains the shards"),
      ConfigKey.integer("epochs", 1, 1_000_000, "passes over each shard"),
      ConfigKey.integer("batch-size", 1, 1 << 24, "samples per training step"),
      ConfigKey.longInt("seed", Long.MIN_VALUE, MAX, "seed of every random choice in the run"),
      ConfigKey.integer("priority", -1_000_000, 1_000_000, "run queue order: higher first, then submission order"),
      ConfigKey.integer("shards", 0, 1_000_000, "number of shards; 0 = one per worker at run start"),
      ConfigKey.integer("max-attempts", 1, 1000, "trainer failures of one shard before the run fails"),
      ConfigKey.decimal("stragglers.factor", 1.0, 1000.0, "a shard slower than this times the others' median is a straggler"),
      ConfigKey.duration("stragglers.window", 0, 3_600_000, "how long a shard must stay that slow to be reported"),
      ConfigKey.bool("speculative", "also run a straggler's shard on an idle worker; the first to finish wins"),
      ConfigKey.integer("checkpoint.every-steps", 1, Integer.MAX_VALUE, "checkpoint every this many shard steps"),
      ConfigKey.decimal("optimizer.lr", 0.0, 1e6, "base learning rate"),
      ConfigKey.choice("optimizer.type", List.of("sgd", "adam", "adamw"), "trainer = djl: the optimizer"),
      ConfigKey.decimal("optimizer.momentum", 0.0, 0.999, "trainer = djl, sgd: momentum; 0 = plain SGD"),
      ConfigKey.decimal("optimizer.weight-decay", 0.0, 1.0, "trainer = djl: weight decay (L2 for sgd and adam, decoupled for adamw)"),
      ConfigKey.choice("optimizer.schedule", List.of("constant", "step", "cosine"), "trainer = djl: the learning-rate schedule"),
      ConfigKey.longInt("optimizer.warmup-steps", 0, 1L << 40, "trainer = djl: linear warm-up from 0 over this many steps"),
      ConfigKey.longInt("optimizer.decay-every", 1, 1L << 40, "trainer = djl, schedule = step: steps between decays"),
      ConfigKey.decimal("optimizer.decay-factor", 0.0, 1.0, "trainer = djl, schedule = step: the lr is multiplied by this"),
      ConfigKey.choice("dataset.format", List.of("synthetic", "csv", "idx", "image-folder"),
          "trainer = djl: where the data comes from"),
      ConfigKey.text("dataset.path", "trainer = djl: the csv file, or the directory for idx and image-folder"),
      ConfigKey.choice("dataset.synthetic", List.of("shapes", "blobs"),
          "trainer = djl, dataset.format = synthetic: drawn shapes (images) or Gaussian blobs (tabular)"),
      ConfigKey.integer("dataset.features", 2, 1 << 16, "trainer = djl, synthetic blobs: features per sample"),
      ConfigKey.integer("dataset.image-size", 8, 256, "trainer = djl, images (shapes, image-folder): side length in pixels"),
      ConfigKey.integer("dataset.channels", 1, 3, "trainer = djl, images (shapes, image-folder): 1 = grayscale, 3 = RGB"),
      ConfigKey.integer("dataset.label-column", -1, 1 << 20, "trainer = djl, csv: the label's column; -1 = the last"),
      ConfigKey.decimal("dataset.val-fraction", 0.0, 0.9, "trainer = djl: fraction of samples held out for evaluation"),
      ConfigKey.longInt("dataset.samples", 10, 1L << 24, "trainer = djl, dataset.format = synthetic: samples generated"),
      ConfigKey.choice("dataset.normalize", List.of("standard", "minmax", "none"),
          "trainer = djl: standard = mean 0 / std 1 per feature (per channel for images), minmax = 0..1, none"),
      ConfigKey.bool("dataset.shuffle", "trainer = djl: a seeded shuffle of each shard per epoch; false = in sample order"),
      ConfigKey.choice("model.type", List.of("mlp", "cnn"), "trainer = djl: the model"),
      ConfigKey.intList("model.hidden", 1, 1 << 16, "trainer = djl: hidden layer sizes (the MLP's, the CNN's after its convolutions)"),
      ConfigKey.intList("model.channels", 1, 1 << 12, "trainer = djl, cnn: output channels of each 3x3 convolution (each then pooled 2x2)"),
      ConfigKey.decimal("model.dropout", 0.0, 0.95, "trainer = djl: dropout before each hidden dense layer's output; 0 = none"),
      ConfigKey.choice("sync.mode", List.of("none", "average"),
          "trainer = djl: none = a model per shard; average = parameters averaged across the run's shards"),
      ConfigKey.longInt("sync.every", 1, 1L << 40, "trainer = djl, sync.mode = average: steps between averaging rounds"),
      ConfigKey.duration("sync.timeout", 10, 3_600_000, "an averaging round completes without shards that do not answer within this"),
      ConfigKey.integer("hard-examples.k", 1, 1 << 24, "size of each worker's buffer and of the merged buffer"),
      ConfigKey.choice("hard-examples.window", List.of("interval", "run"), "buffer restarts at each merge, or keeps the run's highest"),
      ConfigKey.choice("hard-examples.merge-mode", List.of("round-robin", "top-k"), "how buffers are merged"),
      ConfigKey.duration("hard-examples.merge-interval", 10, 86_400_000, "how often buffers are all-gathered"),
      ConfigKey.duration("hard-examples.merge-timeout", 10, 3_600_000, "a worker slower than this is left out of a merge"),
      ConfigKey.decimal("hard-examples.threshold-quantile", 0.0, 1.0, "quantile of all losses used as the hard threshold"),
      ConfigKey.bool("telemetry.enabled", "false = fast mode, lifecycle events only"),
      ConfigKey.integer("telemetry.every-steps", 1, Integer.MAX_VALUE, "emit a step event every this many steps"),
      ConfigKey.integer("telemetry.buffer-size", 16, 1 << 24, "step events queued per shard before drops"),
      ConfigKey.integer("telemetry.batch-size", 1, 1 << 20, "events per batch to the coordinator"),
      ConfigKey.duration("telemetry.batch-interval", 1, 60_000, "a partial batch is sent after this long"),
      ConfigKey.longInt("stub.samples", 1, 1L << 40, "size of the simulated dataset"),
      ConfigKey.duration("stub.step-time", 0, 3_600_000, "pacing of each simulated step; 0 = as fast as possible"),
      ConfigKey.decimal("stub.hard-fraction", 0.0, 1.0, "fraction of samples planted hard"),
      ConfigKey.longInt("stub.fail-at-step", -1, MAX, "fail at this shard step (-1 = never)"),
      ConfigKey.integer("stub.fail-attempts", 0, 1000, "fail only on the first N attempts (0 = every attempt)"),
      ConfigKey.longInt("stub.hang-at-step", -1, MAX, "hang at this shard step until stopped (-1 = never)"),
      ConfigKey.decimal("stub.slow-factor", 1.0, 10_000.0, "steps take this many times longer (a straggler)"),
      ConfigKey.integer("stub.slow-attempts", 0, 1000, "slow only on the first N attempts (0 = every attempt)"),
      ConfigKey.intList("stub.fault-shards", 0, 1_000_000, "shards the faults apply to; empty = every shard"),
      ConfigKey.stringList("process.command", "trainer = process: the program and its arguments, with {shard}-style placeholders"),
      ConfigKey.longInt("process.samples", 1, 1L << 40, "trainer = process: the size of the program's dataset"),
      ConfigKey.text("process.workdir", "trainer = process: the program's working directory; empty = the worker JVM's"),
      ConfigKey.stringList("process.metrics", "trainer = process: extra metric names parsed from plain log lines"),
      ConfigKey.duration("process.grace", 0, 3_600_000, "trainer = process: after SIGTERM, SIGKILL after this long"),
      ConfigKey.duration("process.hang-timeout", 0, 604_800_000,
          "trainer = process: a program silent on stdout this long is killed and the shard fails; 0 = never")));

  private RunConfigSchema() {}

  /** Every key, in schema order. */
  public static List<ConfigKey> keys() {
    return List.copyOf(KEYS.values());
  }

  /** The key at {@code path}, or {@code null}. */
  public static ConfigKey key(String path) {
    return KEYS.get(path);
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
    List<String> trailing = new java.util.ArrayList<>();
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

  private static Map<String, ConfigKey> index(List<ConfigKey> keys) {
    Map<String, ConfigKey> byPath = new LinkedHashMap<>();
    for (ConfigKey key : keys) byPath.put(key.path(), key);
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
