package io.quarry.coordinator.merge;

/** How the coordinator folds the workers' hard-example buffers into one ({@code hard-examples.merge-mode}). */
public enum MergeMode {
  /** Each worker's next-highest entry in turn, in a worker order that rotates every merge: a fair share. */
  ROUND_ROBIN("round-robin"),
  /** The exact global top K, whichever workers they come from. */
  TOP_K("top-k");

  private final String configName;

  MergeMode(String configName) {
    this.configName = configName;
  }

  /** The name the run config uses. */
  public String configName() {
    return configName;
  }

  /** The mode a run config names, e.g. {@code "round-robin"}. */
  public static MergeMode fromConfig(String name) {
    for (MergeMode mode : values()) {
      if (mode.configName.equals(name)) {
        return mode;
      }
    }
    throw new IllegalArgumentException(
        "hard-examples.merge-mode must be \"round-robin\" or \"top-k\", got \"" + name + "\"");
  }
}
