package io.quarry.deploy;

import io.quarry.config.RunConfigException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/** A sweep's {@code summary.csv} and the table printed at its end. */
final class SweepReport {
  static final List<String> METRICS = List.of("final_loss", "val_accuracy", "wall_s", "steps");

  /** One row: the run, its swept values and how it ended. */
  record Row(Sweep.Point point, String runId, RunResult result) {}

  private SweepReport() {}

  /** Checks a {@code --sort} value ({@code [-]metric}) before anything runs. */
  static void checkSort(String sort) {
    if (sort == null) return;
    String metric = sort.startsWith("-") ? sort.substring(1) : sort;
    if (!METRICS.contains(metric)) {
      throw new RunConfigException("--sort: unknown column '" + sort + "'; allowed: " + String.join(", ", METRICS)
          + " (prefix '-' for descending)");
    }
  }

  /** The sweep directory: {@code <runs-dir>/../sweeps/<sweep-id>}. */
  static Path sweepDir(Path runsDir, String sweepId) {
    Path parent = runsDir.toAbsolutePath().normalize().getParent();
    return (parent == null ? Path.of("") : parent).resolve("sweeps").resolve(sweepId);
  }

  static List<String> header(List<String> sweptKeys) {
    List<String> header = new ArrayList<>();
    header.add("run_id");
    header.addAll(sweptKeys);
    header.addAll(List.of("status", "final_loss", "val_accuracy", "wall_s", "steps"));
    return header;
  }

  static List<String> cells(Row row, List<String> sweptKeys) {
    List<String> cells = new ArrayList<>();
    cells.add(row.runId());
    for (String key : sweptKeys) cells.add(row.point().swept().get(key));
    RunResult r = row.result();
    cells.add(r == null ? "unknown" : r.status());
    cells.add(r == null || r.finalLoss() == null ? "" : format(r.finalLoss()));
    cells.add(r == null || r.valAccuracy() == null ? "" : format(r.valAccuracy()));
    cells.add(r == null ? "" : String.format(Locale.ROOT, "%.1f", r.wallMs() / 1000.0));
    cells.add(r == null ? "" : Long.toString(r.steps()));
    return cells;
  }

  private static String format(double value) {
    return String.format(Locale.ROOT, "%.6f", value);
  }

  /** The rows in run order, or sorted by {@code sort} ({@code metric} ascending, {@code -metric} descending). */
  static List<Row> sorted(List<Row> rows, String sort) {
    if (sort == null) return rows;
    boolean descending = sort.startsWith("-");
    String metric = descending ? sort.substring(1) : sort;
    Function<Row, Double> value = row -> {
      RunResult r = row.result();
      if (r == null) return null;
      return switch (metric) {
        case "final_loss" -> r.finalLoss();
        case "val_accuracy" -> r.valAccuracy();
        case "wall_s" -> r.wallMs() / 1000.0;
        default -> (double) r.steps();
      };
    };
    Comparator<Double> order = descending ? Comparator.<Double>reverseOrder() : Comparator.<Double>naturalOrder();
    List<Row> copy = new ArrayList<>(rows);
    copy.sort(Comparator.comparing(value, Comparator.nullsLast(order))); // stable: ties keep run order
    return copy;
  }

  /** Writes {@code summary.csv} (run order) and returns its path. */
  static Path writeCsv(Path sweepDir, List<Row> rows, List<String> sweptKeys) throws IOException {
    Files.createDirectories(sweepDir);
    StringBuilder csv = new StringBuilder();
    csv.append(csvLine(header(sweptKeys)));
    for (Row row : rows) csv.append(csvLine(cells(row, sweptKeys)));
    Path file = sweepDir.resolve("summary.csv");
    Files.writeString(file, csv.toString());
    return file;
  }

  private static String csvLine(List<String> cells) {
    List<String> quoted = new ArrayList<>();
    for (String cell : cells) {
      String c = cell == null ? "" : cell;
      quoted.add(c.contains(",") || c.contains("\"") || c.contains("\n") ? "\"" + c.replace("\"", "\"\"") + "\"" : c);
    }
    return String.join(",", quoted) + "\n";
  }

  /** Prints the rows as an aligned table. */
  static void printTable(PrintStream out, List<Row> rows, List<String> sweptKeys) {
    List<List<String>> table = new ArrayList<>();
    table.add(header(sweptKeys));
    for (Row row : rows) table.add(cells(row, sweptKeys));
    int[] widths = new int[table.get(0).size()];
    for (List<String> line : table) {
      for (int i = 0; i < line.size(); i++) widths[i] = Math.max(widths[i], line.get(i) == null ? 0 : line.get(i).length());
    }
    for (List<String> line : table) {
      StringBuilder text = new StringBuilder();
      for (int i = 0; i < line.size(); i++) {
        if (i > 0) text.append("  ");
        text.append(String.format("%-" + widths[i] + "s", line.get(i) == null ? "" : line.get(i)));
      }
      out.println(text.toString().stripTrailing());
    }
  }
}
