package io.quarry.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValue;
import java.util.List;
import java.util.Locale;

/**
 * One run-config key: its path, type, allowed range and one line of meaning. {@link #check} turns every
 * way a value can be wrong into a one-line message naming the key, the value and what is allowed.
 */
public record ConfigKey(String path, Kind kind, double min, double max, List<String> choices, String doc) {

  /** The value types a key can have. */
  public enum Kind {
    INT,
    LONG,
    DOUBLE,
    BOOLEAN,
    STRING,
    DURATION,
    CHOICE,
    INT_LIST,
    STRING_LIST
  }

  public ConfigKey {
    choices = List.copyOf(choices);
  }

  public static ConfigKey integer(String path, long min, long max, String doc) {
    return new ConfigKey(path, Kind.INT, min, max, List.of(), doc);
  }

  public static ConfigKey longInt(String path, long min, long max, String doc) {
    return new ConfigKey(path, Kind.LONG, min, max, List.of(), doc);
  }

  public static ConfigKey decimal(String path, double min, double max, String doc) {
    return new ConfigKey(path, Kind.DOUBLE, min, max, List.of(), doc);
  }

  public static ConfigKey bool(String path, String doc) {
    return new ConfigKey(path, Kind.BOOLEAN, 0, 0, List.of(), doc);
  }

  public static ConfigKey text(String path, String doc) {
    return new ConfigKey(path, Kind.STRING, 0, 0, List.of(), doc);
  }

  public static ConfigKey duration(String path, long minMs, long maxMs, String doc) {
    return new ConfigKey(path, Kind.DURATION, minMs, maxMs, List.of(), doc);
  }

  public static ConfigKey choice(String path, List<String> choices, String doc) {
    return new ConfigKey(path, Kind.CHOICE, 0, 0, choices, doc);
  }

  public static ConfigKey intList(String path, long min, long max, String doc) {
    return new ConfigKey(path, Kind.INT_LIST, min, max, List.of(), doc);
  }

  public static ConfigKey stringList(String path, String doc) {
    return new ConfigKey(path, Kind.STRING_LIST, 0, 0, List.of(), doc);
  }

  /** What values are allowed, in words. */
  public String allowed() {
    return switch (kind) {
      case INT, LONG -> "an integer from " + fmt(min) + " to " + fmt(max);
      case DOUBLE -> "a number from " + fmt(min) + " to " + fmt(max);
      case BOOLEAN -> "true or false";
      case STRING -> "a string";
      case DURATION -> "a duration from " + fmt(min) + "ms to " + fmt(max) + "ms (e.g. 5ms, 2s, 1m)";
      case CHOICE -> "one of " + String.join(", ", choices);
      case INT_LIST -> "a list of integers from " + fmt(min) + " to " + fmt(max) + " (e.g. [0,2])";
      case STRING_LIST -> "a list of strings (e.g. [\"python3\", \"train.py\"])";
    };
  }

  /** The type as {@code quarry config --schema} prints it. */
  public String typeName() {
    return kind == Kind.CHOICE ? String.join("|", choices) : kind.name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** Throws a {@link RunConfigException} unless the key's value in {@code config} is allowed. */
  public void check(Config config) {
    ConfigValue raw = config.getValue(path);
    String shown = raw.render(com.typesafe.config.ConfigRenderOptions.concise());
    try {
      switch (kind) {
        case INT -> inRange(config.getInt(path), shown);
        case LONG -> inRange(config.getLong(path), shown);
        case DOUBLE -> {
          double value = config.getDouble(path);
          if (Double.isNaN(value) || value < min || value > max) throw invalid(shown);
        }
        case BOOLEAN -> config.getBoolean(path);
        case STRING -> config.getString(path);
        case DURATION -> inRange(config.getDuration(path).toMillis(), shown);
        case CHOICE -> {
          if (!choices.contains(config.getString(path))) throw invalid(shown);
        }
        case INT_LIST -> {
          for (Integer value : config.getIntList(path)) inRange(value, shown);
        }
        case STRING_LIST -> config.getStringList(path);
      }
    } catch (ConfigException.WrongType | ConfigException.BadValue e) {
      throw invalid(shown);
    }
  }

  private void inRange(long value, String shown) {
    if (value < min || value > max) throw invalid(shown);
  }

  private RunConfigException invalid(String shown) {
    return new RunConfigException("config key '" + path + "': invalid value " + shown + "; allowed: " + allowed());
  }

  private static String fmt(double value) {
    if (value == Long.MAX_VALUE || value >= 9.2e18) return "max";
    return value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value);
  }
}
