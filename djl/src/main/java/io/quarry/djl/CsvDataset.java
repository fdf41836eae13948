package io.quarry.djl;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Reads a csv of numbers ({@code .gz} too): one sample per non-blank line, the label in one column (an integer class
 * {@code >= 0}) and the features in the others. A first line with a non-numeric field is a header and skipped. A row
 * with another number of fields than the first, a non-numeric value or a bad label fails, naming the file and line.
 */
public final class CsvDataset {
  private CsvDataset() {}

  /** Loads {@code file}; {@code labelColumn} -1 means the last column. */
  public static TabularData load(Path file, int labelColumn) throws IOException {
    float[] x = new float[1 << 12];
    int[] y = new int[256];
    int rows = 0;
    int columns = -1;
    int label = -1;
    int maxLabel = -1;
    int lineNo = 0;
    try (BufferedReader reader = CsvRows.open(file)) {
      boolean first = true;
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        lineNo++;
        if (line.isBlank()) continue;
        if (first) {
          first = false;
          if (CsvRows.isHeader(line)) continue;
        }
        String[] fields = line.split(",", -1);
        if (columns < 0) {
          columns = fields.length;
          if (columns < 2) throw bad(file, lineNo, "needs at least 2 columns (features and a label), has " + columns);
          label = labelColumn < 0 ? columns - 1 : labelColumn;
          if (label >= columns) {
            throw bad(file, lineNo, "dataset.label-column " + labelColumn + " is past the row's " + columns + " columns");
          }
        } else if (fields.length != columns) {
          throw bad(file, lineNo, "has " + fields.length + " fields, the first data row has " + columns);
        }
        int features = columns - 1;
        if ((rows + 1) * features > x.length) x = Arrays.copyOf(x, Math.max(x.length * 2, (rows + 1) * features));
        if (rows == y.length) y = Arrays.copyOf(y, y.length * 2);
        int f = rows * features;
        for (int c = 0; c < columns; c++) {
          String field = fields[c].trim();
          double value;
          try {
            value = Double.parseDouble(field);
          } catch (NumberFormatException e) {
            throw bad(file, lineNo, "column " + c + " is not a number: '" + field + "'");
          }
          if (c == label) {
            if (value < 0 || value != Math.rint(value) || value > 1_000_000) {
              throw bad(file, lineNo, "label (column " + c + ") is not a class number >= 0: '" + field + "'");
            }
            y[rows] = (int) value;
            maxLabel = Math.max(maxLabel, (int) value);
          } else {
            if (!Double.isFinite(value)) throw bad(file, lineNo, "column " + c + " is not finite: '" + field + "'");
            x[f++] = (float) value;
          }
        }
        rows++;
      }
    }
    if (rows == 0) throw new IOException(file + ": no data rows");
    int features = columns - 1;
    return new TabularData(file.toString(), features, Arrays.copyOf(x, rows * features), Arrays.copyOf(y, rows), maxLabel + 1);
  }

  private static IOException bad(Path file, int line, String what) {
    return new IOException(file + " line " + line + ": " + what);
  }
}
