package io.quarry.coordinator.http.dashboard;

import java.util.List;
import java.util.Map;

/**
 * Expands overrides with comma lists into a sweep's runs, by the rules of {@code --multirun} (the CLI's own
 * expansion is handed in by the {@code quarry} command; the coordinator module does not hold it).
 */
public interface SweepExpander {
  /** One run of a sweep: its overrides and the swept {@code key -> value}. */
  record Point(List<String> overrides, Map<String, String> swept) {}

  /** The sweep's runs, in order; a malformed override is an {@link io.quarry.config.RunConfigException}. */
  List<Point> expand(List<String> overrides);

  /** Without the CLI's expander: no sweep, the overrides as one run. */
  SweepExpander NONE = overrides -> List.of(new Point(overrides, Map.of()));
}
