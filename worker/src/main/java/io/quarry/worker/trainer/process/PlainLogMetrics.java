package io.quarry.worker.trainer.process;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds metrics in a plain log line: {@code name=value}, {@code name: value} or {@code name value}, the name
 * matched case-insensitively as a whole word ({@code val_loss} is not {@code loss}), the value a decimal in plain
 * or scientific notation ({@code 3}, {@code -0.5}, {@code 1e-4}, {@code 3.2E+01}) or {@code nan}/{@code inf}.
 * {@code Epoch 2 step 300/1000 Loss: 1.2e-1 lr=3E-4} gives epoch 2, step 300, loss 0.12 and lr 0.0003.
 */
final class PlainLogMetrics {
  /** The names every program may print; {@code process.metrics} adds more. */
  static final List<String> BUILT_IN = List.of("loss", "val_loss", "val_accuracy", "step", "epoch", "lr");

  private static final String NUMBER = "[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]?(?:nan|inf(?:inity)?)";

  private final Pattern pattern;

  PlainLogMetrics(List<String> extraNames) {
    List<String> names = new ArrayList<>(BUILT_IN);
    for (String name : extraNames) {
      String lower = name.toLowerCase(Locale.ROOT);
      if (!lower.isBlank() && !names.contains(lower)) names.add(lower);
    }
    // Longest first, so that a name that is a prefix of another never wins the alternation.
    names.sort(Comparator.comparingInt(String::length).reversed());
    StringBuilder alternation = new StringBuilder();
    for (String name : names) {
      if (alternation.length() > 0) alternation.append('|');
      alternation.append(Pattern.quote(name));
    }
    pattern = Pattern.compile("(?<![\\w.-])(" + alternation + ")(?:\\s*[=:]\\s*|\\s+)(" + NUMBER + ")(?![\\w.])",
        Pattern.CASE_INSENSITIVE);
  }

  /** The metrics on {@code line}, lower-case names in the order they appear; empty when there are none. */
  Map<String, Double> parse(String line) {
    Map<String, Double> metrics = new LinkedHashMap<>();
    Matcher matcher = pattern.matcher(line);
    while (matcher.find()) {
      metrics.put(matcher.group(1).toLowerCase(Locale.ROOT), parseNumber(matcher.group(2)));
    }
    return metrics;
  }

  private static double parseNumber(String text) {
    String lower = text.toLowerCase(Locale.ROOT);
    if (lower.endsWith("nan")) return Double.NaN;
    if (lower.contains("inf")) return lower.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
    return Double.parseDouble(text);
  }
}
