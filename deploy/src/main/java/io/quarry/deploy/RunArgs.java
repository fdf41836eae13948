package io.quarry.deploy;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The positional arguments of {@code quarry local} and {@code quarry config}: an optional run file (HOCON,
 * {@code include} resolved relative to it) followed by {@code key=value} overrides.
 */
record RunArgs(Path runFile, List<String> overrides) {

  RunArgs {
    overrides = List.copyOf(overrides);
  }

  /**
   * A first positional that contains no '=' and ends in {@code .conf} or names an existing file is the run file;
   * everything else is an override.
   */
  static RunArgs split(List<String> positionals) {
    if (positionals.isEmpty()) return new RunArgs(null, List.of());
    String first = positionals.get(0);
    if (!first.contains("=") && (first.endsWith(".conf") || Files.isRegularFile(Path.of(first)))) {
      return new RunArgs(Path.of(first), positionals.subList(1, positionals.size()));
    }
    return new RunArgs(null, positionals);
  }

  /** The run file's resolved HOCON, or an empty config when there is none. */
  String baseHocon() {
    return runFile == null ? "" : ClientCommands.resolvedRunFile(runFile);
  }

  /** Run file, then {@code extra} overrides in order, then the environment's fast mode; validated once. */
  RunConfig resolve(List<String> extra, Map<String, String> env) {
    return resolve(baseHocon(), extra, env);
  }

  /** The run file's HOCON with every override applied, then the environment's fast mode, validated once. */
  static RunConfig resolve(String baseHocon, List<String> overrides, Map<String, String> env) {
    List<String> all = RunConfig.telemetryDisabledBy(env) ? concat(overrides, List.of("telemetry.enabled=false")) : overrides;
    return RunConfig.parse(baseHocon, all);
  }

  /** Prefixes a config error with which run of a sweep it belongs to. */
  static RunConfigException inRun(String runId, List<String> swept, RunConfigException e) {
    return new RunConfigException("run " + runId + " (" + String.join(" ", swept) + "): " + e.getMessage());
  }

  static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }
}
