package io.quarry.deploy;

import io.quarry.config.RunConfigException;
import io.quarry.coordinator.http.dashboard.SweepExpander;
import java.util.List;

/**
 * The dashboard's New run form expands a sweep by {@code --multirun}'s rules ({@link Sweep}): every override with
 * top-level commas is a swept key, and the runs are their cartesian product. A product past {@code maxRuns} is
 * refused before it is built.
 */
final class DashboardSweeps implements SweepExpander {
  private final int maxRuns;

  DashboardSweeps(int maxRuns) {
    this.maxRuns = maxRuns;
  }

  @Override
  public List<Point> expand(List<String> overrides) {
    long product = 1;
    for (String override : overrides) {
      int eq = override.indexOf('=');
      if (eq > 0) product *= Sweep.splitTopLevel(override.substring(eq + 1).trim()).size();
      if (product > maxRuns) {
        throw new RunConfigException("the sweep has more than " + maxRuns + " runs; allowed from the dashboard: at most "
            + maxRuns + " (use quarry submit --multirun for more)");
      }
    }
    return Sweep.expand(overrides).points.stream().map(point -> new Point(point.overrides(), point.swept())).toList();
  }
}
