package io.quarry.deploy;

import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.RunConfigSchema;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code quarry config}: the resolved run config of a run file and overrides, or the schema of every key. */
@Command(name = "config", mixinStandardHelpOptions = true,
    description = {"Prints the resolved run config (every key, in schema order, as HOCON) of an optional run file and",
        "key=value overrides; with no arguments, the defaults. --schema lists every key with its type, default and",
        "meaning. Exit code 0, or 2 for a bad key or value."})
final class ConfigCommand implements Callable<Integer> {
  @Option(names = "--schema", description = "list every run-config key with its type, default and meaning")
  boolean schema;

  @Parameters(paramLabel = "[RUN.conf] KEY=VALUE", arity = "0..*",
      description = "an optional run file (HOCON; include works), then overrides")
  List<String> positionals = new ArrayList<>();

  private final PrintStream out = System.out;

  @Override
  public Integer call() {
    if (schema) {
      if (!positionals.isEmpty()) {
        System.err.println("quarry config: --schema takes no run file or overrides");
        return QuarryCli.EXIT_USAGE;
      }
      printSchema(out);
      return QuarryCli.EXIT_COMPLETED;
    }
    try {
      RunArgs args = RunArgs.split(positionals);
      printResolved(out, args.resolve(args.overrides(), System.getenv()));
      return QuarryCli.EXIT_COMPLETED;
    } catch (RunConfigException e) {
      System.err.println("quarry config: " + e.getMessage());
      return QuarryCli.EXIT_USAGE;
    }
  }

  /** One {@code key = value} line per key, in schema order: valid HOCON that parses back to the same config. */
  static void printResolved(PrintStream out, RunConfig config) {
    for (ConfigKey key : RunConfigSchema.keys()) {
      out.println(key.path() + " = " + config.raw().getValue(key.path()).render(ConfigRenderOptions.concise()));
    }
  }

  static void printSchema(PrintStream out) {
    List<String[]> rows = new ArrayList<>();
    rows.add(new String[] {"key", "type", "default", "meaning"});
    for (ConfigKey key : RunConfigSchema.keys()) {
      String value = ConfigFactory.defaultReference().getValue("quarry.run." + key.path())
          .render(ConfigRenderOptions.concise());
      rows.add(new String[] {key.path(), key.typeName(), value, key.doc() + " (" + key.allowed() + ")"});
    }
    int[] widths = new int[3];
    for (String[] row : rows) for (int i = 0; i < 3; i++) widths[i] = Math.max(widths[i], row[i].length());
    for (String[] row : rows) {
      out.println(String.format("%-" + widths[0] + "s  %-" + widths[1] + "s  %-" + widths[2] + "s  %s",
          row[0], row[1], row[2], row[3]));
    }
  }
}
