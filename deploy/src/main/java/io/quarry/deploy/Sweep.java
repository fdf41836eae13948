package io.quarry.deploy;

import io.quarry.config.RunConfigException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A {@code --multirun} sweep: every override whose value has top-level commas is a swept key; the runs are the
 * cartesian product of the swept values (first key slowest), numbered from 0 in that order.
 */
final class Sweep {
  private static final DateTimeFormatter ID_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

  /** One run of the sweep: its index, its full override list and the swept key=value pairs. */
  record Point(int index, List<String> overrides, Map<String, String> swept) {
    String runId(String sweepId) {
      return sweepId + "-" + index;
    }

    List<String> sweptOverrides() {
      List<String> list = new ArrayList<>();
      swept.forEach((k, v) -> list.add(k + "=" + v));
      return list;
    }
  }

  final List<String> sweptKeys;
  final List<Point> points;

  private Sweep(List<String> sweptKeys, List<Point> points) {
    this.sweptKeys = sweptKeys;
    this.points = points;
  }

  static String newId() {
    return "sweep-" + ID_TIME.format(Instant.now()) + "-"
        + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0x10000));
  }

  /** Expands the overrides; a malformed override is a config error. */
  static Sweep expand(List<String> overrides) {
    List<String> keys = new ArrayList<>();
    List<List<String>> values = new ArrayList<>();
    for (String override : overrides) {
      int eq = override.indexOf('=');
      if (eq <= 0) {
        throw new RunConfigException("override '" + override + "' is not of the form key=value (e.g. epochs=3)");
      }
      String key = override.substring(0, eq).trim();
      List<String> parts = splitTopLevel(override.substring(eq + 1).trim());
      if (parts.stream().anyMatch(String::isEmpty) && parts.size() > 1) {
        throw new RunConfigException("--multirun: override '" + override + "' has an empty value in its list");
      }
      keys.add(key);
      values.add(parts);
    }
    List<String> sweptKeys = new ArrayList<>();
    for (int i = 0; i < keys.size(); i++) {
      if (values.get(i).size() > 1) {
        if (sweptKeys.contains(keys.get(i))) throw new RunConfigException("--multirun: key '" + keys.get(i) + "' is swept twice");
        sweptKeys.add(keys.get(i));
      }
    }
    List<Point> points = new ArrayList<>();
    int total = 1;
    for (List<String> v : values) total = Math.multiplyExact(total, v.size());
    for (int n = 0; n < total; n++) {
      int rest = n;
      String[] chosen = new String[keys.size()];
      for (int i = keys.size() - 1; i >= 0; i--) { // last key fastest
        int size = values.get(i).size();
        chosen[i] = values.get(i).get(rest % size);
        rest /= size;
      }
      List<String> list = new ArrayList<>();
      Map<String, String> swept = new LinkedHashMap<>();
      for (int i = 0; i < keys.size(); i++) {
        list.add(keys.get(i) + "=" + chosen[i]);
        if (values.get(i).size() > 1) swept.put(keys.get(i), chosen[i]);
      }
      points.add(new Point(n, List.copyOf(list), swept));
    }
    return new Sweep(List.copyOf(sweptKeys), List.copyOf(points));
  }

  /** Splits on commas outside brackets, braces and quotes: {@code 1,[2,3],"a,b"} is three values. */
  static List<String> splitTopLevel(String value) {
    List<String> parts = new ArrayList<>();
    int depth = 0;
    char quote = 0;
    StringBuilder current = new StringBuilder();
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (quote != 0) {
        if (c == '\\' && i + 1 < value.length()) {
          current.append(c).append(value.charAt(++i));
          continue;
        }
        if (c == quote) quote = 0;
      } else if (c == '"') {
        quote = c;
      } else if (c == '[' || c == '{') {
        depth++;
      } else if ((c == ']' || c == '}') && depth > 0) {
        depth--;
      } else if (c == ',' && depth == 0) {
        parts.add(current.toString().trim());
        current.setLength(0);
        continue;
      }
      current.append(c);
    }
    parts.add(current.toString().trim());
    return parts;
  }
}
