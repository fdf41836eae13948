package io.quarry.djl;

import io.quarry.config.RunConfigException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Counts the data rows of a csv file ({@code .gz} read through gunzip): non-blank lines, less a header (a first line
 * with a field that is not a number). The DJL trainer's parser applies the same rules, so the counts agree.
 */
public final class CsvRows {
  private CsvRows() {}

  /** Opens {@code file} as text, gunzipping a {@code .gz}. */
  public static BufferedReader open(Path file) throws IOException {
    InputStream in = Files.newInputStream(file);
    if (file.getFileName().toString().endsWith(".gz")) in = new GZIPInputStream(in, 1 << 16);
    return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16);
  }

  /** True when a line is a header: some field is not a number. */
  public static boolean isHeader(String line) {
    for (String field : line.split(",", -1)) {
      try {
        Double.parseDouble(field.trim());
      } catch (NumberFormatException e) {
        return true;
      }
    }
    return false;
  }

  /** The data rows of {@code file}. */
  public static long count(Path file) {
    try (BufferedReader reader = open(file)) {
      long rows = 0;
      boolean first = true;
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        if (line.isBlank()) continue;
        if (first && isHeader(line)) {
          first = false;
          continue;
        }
        first = false;
        rows++;
      }
      if (rows == 0) throw new RunConfigException("dataset.path '" + file + "' holds no data rows");
      return rows;
    } catch (IOException e) {
      throw new RunConfigException("cannot read dataset.path '" + file + "': " + e);
    }
  }
}
