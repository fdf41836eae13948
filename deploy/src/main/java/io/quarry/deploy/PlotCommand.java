package io.quarry.deploy;

import io.quarry.coordinator.plots.RunPlots;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code quarry plot RUN_ID|RUN_DIR}: draws a run's PNG charts into its {@code plots/} from its run directory alone
 * (any run, old ones too; no coordinator needed); {@code --compare RUN_A RUN_B ...} overlays runs, one chart per
 * quantity.
 */
@Command(
    name = "plot",
    mixinStandardHelpOptions = true,
    description = {
      "Draws a run's charts into <run dir>/plots/ from its run directory (scalars.csv, hard_examples.jsonl): loss and "
          + "val loss, val accuracy, lr and samples/s (per shard and for the run), and a contact sheet of the last "
          + "merge's hardest examples. With --compare, overlays several runs in one chart per quantity.",
      "Exit code 0 when the charts were written, 2 when a run directory is not there."
    })
final class PlotCommand implements Callable<Integer> {
  @Parameters(paramLabel = "RUN_ID|RUN_DIR", arity = "1..*",
      description = "a run directory, or a run id under --runs-dir; several with --compare")
  List<String> runs = new ArrayList<>();

  @Option(names = "--runs-dir", paramLabel = "DIR",
      description = "where run ids are looked up (env QUARRY_RUNS_DIR, default runs)")
  Path runsDir;

  @Option(names = "--compare", description = "overlay the runs given, one chart per quantity, into --out")
  boolean compare;

  @Option(names = "--out", paramLabel = "DIR", description = "--compare: where the charts go (default plots-compare)")
  Path out;

  @Override
  public Integer call() {
    Path runsRoot = runsDir != null ? runsDir : Path.of(System.getenv().getOrDefault("QUARRY_RUNS_DIR", "runs"));
    List<Path> dirs = new ArrayList<>();
    for (String run : runs) {
      Path given = Path.of(run);
      Path dir = Files.isDirectory(given) && Files.exists(given.resolve("events.jsonl")) ? given : runsRoot.resolve(run);
      if (!Files.isDirectory(dir)) {
        System.err.println("quarry plot: no run directory " + run + " (nor " + runsRoot.resolve(run) + "); allowed: a "
            + "run directory, or a run id under --runs-dir");
        return QuarryCli.EXIT_USAGE;
      }
      dirs.add(dir);
    }
    if (!compare && dirs.size() > 1) {
      System.err.println("quarry plot: " + dirs.size() + " runs given; plot one at a time, or overlay them with --compare");
      return QuarryCli.EXIT_USAGE;
    }
    try {
      List<Path> written = compare ? RunPlots.compare(dirs, out != null ? out : Path.of("plots-compare"))
          : RunPlots.write(dirs.get(0));
      for (Path file : written) System.out.println(file);
      return QuarryCli.EXIT_COMPLETED;
    } catch (java.io.IOException | RuntimeException e) {
      System.err.println("quarry plot: " + e.getMessage());
      return QuarryCli.EXIT_FAILED;
    }
  }
}
