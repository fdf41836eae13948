package io.quarry.coordinator.http.dashboard;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.RunConfigSchema;
import io.quarry.config.TrainerSpec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The new-run form's schema and its validation, by the same schema and code as {@code quarry config} and
 * {@code quarry submit}: every key with its section (the core keys, or a trainer's), type, default, allowed values and
 * meaning; and a config with overrides checked as the coordinator will check it, with the same one-line error. A
 * sweep (overrides with comma lists) is expanded by the CLI's rules ({@link SweepExpander}) and every run of it
 * checked.
 */
final class RunSchemaView {
  /** Runs one sweep may have from the form. */
  static final int MAX_SWEEP_RUNS = 256;

  private RunSchemaView() {}

  /** {@code {"trainers": [...], "keys": [{"path", "section", "type", "kind", "default", "allowed", "doc", "choices"}]}}. */
  static ObjectNode schema() {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    ArrayNode trainers = out.putArray("trainers");
    RunConfigSchema.trainerNames().forEach(trainers::add);
    Map<String, String> sections = new HashMap<>();
    for (TrainerSpec spec : RunConfigSchema.trainers()) {
      for (ConfigKey key : spec.keys()) sections.put(key.path(), spec.name());
    }
    ArrayNode keys = out.putArray("keys");
    var reference = ConfigFactory.defaultReference();
    for (ConfigKey key : RunConfigSchema.keys()) {
      ObjectNode node = keys.addObject();
      node.put("path", key.path());
      node.put("section", sections.getOrDefault(key.path(), "core"));
      node.put("type", key.typeName());
      node.put("kind", key.kind().name().toLowerCase(java.util.Locale.ROOT));
      String path = "quarry.run." + key.path();
      if (reference.hasPath(path)) {
        var value = reference.getValue(path);
        node.put("default", value.valueType() == com.typesafe.config.ConfigValueType.STRING
            ? String.valueOf(value.unwrapped()) : value.render(ConfigRenderOptions.concise()));
      } else {
        node.putNull("default");
      }
      node.put("allowed", key.allowed());
      node.put("doc", key.doc());
      ArrayNode choices = node.putArray("choices");
      key.choices().forEach(choices::add);
    }
    return out;
  }

  /**
   * Checks {@code config} (HOCON, may be empty) with {@code overrides}, expanded as a sweep when {@code sweep}:
   * {@code {"ok": true, "runs": [{"overrides", "swept"}], "resolved": "<HOCON of the first run>"}} or
   * {@code {"ok": false, "error": "<the one-line error>"}}.
   */
  static ObjectNode validate(String config, List<String> overrides, boolean sweep, SweepExpander expander) {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    try {
      List<SweepExpander.Point> points = sweep ? expander.expand(overrides)
          : List.of(new SweepExpander.Point(overrides, Map.of()));
      if (points.size() > MAX_SWEEP_RUNS) {
        throw new RunConfigException("the sweep has " + points.size() + " runs; allowed from the dashboard: at most "
            + MAX_SWEEP_RUNS + " (use quarry submit --multirun for more)");
      }
      ArrayNode runs = out.putArray("runs");
      String resolved = null;
      for (SweepExpander.Point point : points) {
        RunConfig parsed;
        try {
          parsed = RunConfig.parse(config == null ? "" : config, point.overrides());
        } catch (RunConfigException e) {
          if (point.swept().isEmpty()) throw e;
          List<String> swept = new ArrayList<>();
          point.swept().forEach((k, v) -> swept.add(k + "=" + v));
          throw new RunConfigException("in the sweep's run with " + String.join(" ", swept) + ": " + e.getMessage());
        }
        if (resolved == null) resolved = parsed.toHocon();
        ObjectNode run = runs.addObject();
        ArrayNode list = run.putArray("overrides");
        point.overrides().forEach(list::add);
        ObjectNode swept = run.putObject("swept");
        new LinkedHashMap<>(point.swept()).forEach(swept::put);
      }
      out.put("ok", true);
      out.put("resolved", resolved);
    } catch (RunConfigException e) {
      out.removeAll();
      out.put("ok", false);
      out.put("error", e.getMessage());
    } catch (ConfigException e) {
      out.removeAll();
      out.put("ok", false);
      out.put("error", "run config: " + e.getMessage());
    }
    return out;
  }
}
