package io.quarry.config;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a stopped or failed run may change when it is resumed ({@code quarry resume RUN_ID key=value ...}): only keys
 * that leave its shards' steps and checkpoints meaning what they meant. Every other key is refused with the reason.
 *
 * <ul>
 *   <li>{@code epochs}, up only: the shards continue from their checkpoints to the new end (a shard that had completed
 *       trains the extra epochs); fewer epochs would leave steps already trained beyond the end;
 *   <li>{@code max-attempts}, {@code optimizer.lr}, {@code priority}, {@code name}, {@code checkpoint.every-steps},
 *       {@code stragglers.*}, {@code speculative}, {@code sync.timeout}, {@code telemetry.*}, the merge's
 *       {@code hard-examples.merge-interval} and {@code merge-timeout}, {@code plots.enabled};
 *   <li>the trainer's own {@link TrainerSpec#resumableKeys()}.
 * </ul>
 *
 * Not allowed: what decides the shards and their steps ({@code trainer}, {@code batch-size}, {@code shards},
 * {@code seed}, the data), what a checkpoint holds (the model, the optimizer's type), and the rest of the trainer's
 * section.
 */
public final class RunResume {
  /** The core keys a resumed run may change, with what each change does. */
  private static final Map<String, String> SAFE = safeKeys();

  private RunResume() {}

  private static Map<String, String> safeKeys() {
    Map<String, String> keys = new LinkedHashMap<>();
    keys.put("epochs", "up only");
    for (String key : List.of("max-attempts", "optimizer.lr", "priority", "name", "checkpoint.every-steps",
        "stragglers.factor", "stragglers.window", "speculative", "sync.timeout", "telemetry.enabled",
        "telemetry.every-steps", "telemetry.buffer-size", "telemetry.batch-size", "telemetry.batch-interval",
        "hard-examples.merge-interval", "hard-examples.merge-timeout", "plots.enabled")) {
      keys.put(key, "");
    }
    return keys;
  }

  /**
   * The config of a run that ran with {@code original}, resumed with {@code overrides} ({@code key=value}, applied in
   * order); throws {@link RunConfigException}, naming the override, why it is refused and what may change, when one
   * changes a key a resumed run must keep, or lowers {@code epochs}.
   */
  public static RunConfig resumed(RunConfig original, List<String> overrides) {
    if (overrides.isEmpty()) return original;
    List<String> allowed = allowedKeys(original);
    for (String override : overrides) {
      int eq = override.indexOf('=');
      if (eq <= 0) throw new RunConfigException("override '" + override + "' is not of the form key=value (e.g. epochs=5)");
      String key = override.substring(0, eq).trim();
      if (RunConfigSchema.key(key) != null && !allowed.contains(key)) {
        throw new RunConfigException("override '" + override + "' is refused: " + key + " cannot change when a run "
            + "resumes (" + why(key, original) + "); allowed on resume: " + describe(allowed));
      }
    }
    RunConfig resumed = original.with(overrides.toArray(String[]::new));
    if (resumed.epochs < original.epochs) {
      throw new RunConfigException("override 'epochs=" + resumed.epochs + "' is refused: epochs can only go up when "
          + "a run resumes (it ran with epochs = " + original.epochs + "; its shards may have trained past the new "
          + "end); allowed: epochs >= " + original.epochs);
    }
    return resumed;
  }

  /** Every key a run of {@code original}'s trainer may change on resume, core keys first. */
  public static List<String> allowedKeys(RunConfig original) {
    List<String> keys = new ArrayList<>(SAFE.keySet());
    keys.addAll(original.trainerSpec().resumableKeys());
    return keys;
  }

  private static String describe(List<String> keys) {
    List<String> described = new ArrayList<>();
    for (String key : keys) described.add(SAFE.getOrDefault(key, "").isEmpty() ? key : key + " (" + SAFE.get(key) + ")");
    return String.join(", ", described);
  }

  private static String why(String key, RunConfig original) {
    if (List.of("trainer", "batch-size", "shards", "seed").contains(key)) {
      return "it decides the shards and their steps, which the checkpoints continue";
    }
    if (key.startsWith("sync.") || key.startsWith("hard-examples.")) return "the run's shards were trained with it";
    boolean trainerKey = original.trainerSpec().keys().stream().anyMatch(k -> k.path().equals(key))
        || RunConfigSchema.trainers().stream().anyMatch(t -> t.keys().stream().anyMatch(k -> k.path().equals(key)));
    if (trainerKey) return "a trainer key: the shards' checkpoints were written with it";
    return "the run's shards were trained with it";
  }
}
