package io.quarry.deploy;

import io.quarry.config.RunConfigException;
import picocli.CommandLine.Option;

/** What a run or a sweep prints, and whether it is a sweep: shared by {@code quarry local} and {@code quarry submit}. */
final class OutputOptions {
  @Option(names = {"-m", "--multirun"},
      description = "a sweep: every override with comma-separated values (key=a,b,c) is swept, one run per combination;"
          + " --run-id names the sweep")
  boolean multirun;

  @Option(names = "--sort", paramLabel = "[-]COLUMN",
      description = "sort the sweep table by final_loss, val_accuracy, wall_s or steps (ascending; '-' descending)")
  String sort;

  @Option(names = "--quiet", description = "print only the final summary line(s) and errors")
  boolean quiet;

  @Option(names = "--json", description = "print progress and the end of each run as JSON lines (no progress bar)")
  boolean json;

  /** Rejects combinations that make no sense, before anything runs. */
  void check() {
    SweepReport.checkSort(sort);
    if (quiet && json) throw new RunConfigException("--quiet and --json cannot be combined");
    if (!multirun && sort != null) throw new RunConfigException("--sort applies to a sweep (--multirun)");
  }

  RunOutput.Mode mode() {
    return RunOutput.mode(quiet, json, System.console() != null);
  }
}
