package io.quarry.protocol.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A validated run config: the typed view that the coordinator and the workers read, and the resolved HOCON
 * that travels in {@link io.quarry.protocol.RunSpec} and is written to {@code run.conf}.
 */
public final class RunConfig {
  /** The environment variable that turns fast mode on for every run this process starts. */
  public static final String DISABLE_TELEMETRY_ENV = "QUARRY_DISABLE_TELEMETRY";

  private static final Config DEFAULTS = ConfigFactory.defaultReference().getConfig("quarry.run");

  private final Config config;

  public final String name;
  public final String trainer;
  public final int epochs;
  public final int batchSize;
  public final long seed;
  public final int shards;
  public final int priority;
  public final int maxAttempts;
  public final int checkpointEverySteps;
  public final double learningRate;
  public final HardExamples hardExamples;
  public final Telemetry telemetry;
  public final Stub stub;
  public final Process process;
  public final Dataset dataset;
  public final Model model;
  public final Optimizer optimizer;
  public final Sync sync;
  public final double stragglerFactor;
  public final Duration stragglerWindow;
  public final boolean speculative;

  /** {@code hard-examples.*}. */
  public record HardExamples(
      int k, boolean runWindow, String mergeMode, Duration mergeInterval, Duration mergeTimeout, double thresholdQuantile) {}

  /** {@code telemetry.*}. */
  public record Telemetry(boolean enabled, int everySteps, int bufferSize, int batchSize, Duration batchInterval) {}

  /** {@code stub.*}: the simulated trainer. */
  public record Stub(
      long samples,
      Duration stepTime,
      double hardFraction,
      long failAtStep,
      int failAttempts,
      long hangAtStep,
      double slowFactor,
      int slowAttempts,
      List<Integer> faultShards) {
    /** True when the injected faults apply to {@code shard}. */
    public boolean faultsApplyTo(int shard) {
      return faultShards.isEmpty() || faultShards.contains(shard);
    }
  }

  /**
   * {@code process.*}: the trainer that runs a program per shard attempt ({@code trainer = process}).
   *
   * @param command the program and its arguments, placeholders not yet filled in; empty unless {@code trainer = process}
   * @param workdir the program's working directory; empty = the worker JVM's
   * @param metrics extra metric names the plain-log parser looks for
   * @param grace how long a program has to exit after SIGTERM before SIGKILL
   * @param hangTimeout a program silent on stdout this long is killed; {@link Duration#ZERO} = never
   */
  public record Process(
      List<String> command, long samples, String workdir, List<String> metrics, Duration grace, Duration hangTimeout) {}

  /**
   * {@code dataset.*}: the DJL trainer's data ({@code trainer = djl}).
   *
   * @param format {@code synthetic}, {@code csv}, {@code idx} or {@code image-folder}
   * @param path the csv file or the idx / image-folder directory; empty for synthetic
   * @param synthetic {@code shapes} (images) or {@code blobs} (tabular), for {@code format = synthetic}
   * @param features features per sample of synthetic blobs
   * @param imageSize side length of images (synthetic shapes, image-folder)
   * @param channels 1 (grayscale) or 3 (RGB), for synthetic shapes and image-folder
   * @param labelColumn the csv label's column, -1 = the last
   * @param valFraction the fraction of samples held out for evaluation (when the data has no validation files)
   * @param samples the synthetic dataset's size (training and validation)
   * @param normalize {@code standard}, {@code minmax} or {@code none}
   * @param shuffle a seeded shuffle of each shard per epoch
   */
  public record Dataset(
      String format, String path, String synthetic, int features, int imageSize, int channels, int labelColumn,
      double valFraction, long samples, String normalize, boolean shuffle) {
    /** True when the samples are images (the CNN can take them). */
    public boolean images() {
      return format.equals("idx") || format.equals("image-folder") || (format.equals("synthetic") && synthetic.equals("shapes"));
    }

    /** How many of {@code total} samples the validation split holds. */
    public static long valCount(long total, double valFraction) {
      return Math.min(total - 1, Math.round(total * valFraction));
    }

    /** How many of {@code total} samples the training split holds. */
    public static long trainCount(long total, double valFraction) {
      return total - valCount(total, valFraction);
    }
  }

  /**
   * {@code model.*}.
   *
   * @param type {@code mlp} or {@code cnn}
   * @param hidden hidden dense layer sizes
   * @param channels the CNN's convolution widths
   * @param dropout dropout after each hidden dense layer, 0 = none
   */
  public record Model(String type, List<Integer> hidden, List<Integer> channels, double dropout) {}

  /**
   * {@code optimizer.*} (the learning rate itself is {@link #learningRate}).
   *
   * @param type {@code sgd}, {@code adam} or {@code adamw}
   * @param momentum SGD's momentum, 0 = plain
   * @param weightDecay L2 for sgd and adam, decoupled for adamw
   * @param schedule {@code constant}, {@code step} or {@code cosine}
   * @param warmupSteps linear warm-up steps
   * @param decayEvery steps between decays of the step schedule
   * @param decayFactor the step schedule's factor
   */
  public record Optimizer(
      String type, double momentum, double weightDecay, String schedule, long warmupSteps, long decayEvery,
      double decayFactor) {}

  /**
   * {@code sync.*}: parameter averaging across the shards of a run.
   *
   * @param average true for {@code sync.mode = average}
   * @param every steps between rounds
   * @param timeout a round completes without the shards that have not answered within this
   */
  public record Sync(boolean average, long every, Duration timeout) {}

  /** The lazily counted training split of a csv, idx or image-folder dataset (trainer = djl); -1 until counted. */
  private volatile long countedTrainingSamples = -1;

  /**
   * The number of samples the run's dataset holds: what the coordinator splits into shards. For {@code trainer = djl}
   * that is the training split (the validation split is every worker's, whole); a csv file, an idx header or an
   * image-folder listing is read on first use.
   */
  public long datasetSamples() {
    switch (trainer) {
      case "process":
        return process.samples();
      case "djl":
        checkModelFitsData();
        if (dataset.format().equals("synthetic")) return Dataset.trainCount(dataset.samples(), dataset.valFraction());
        return countedTrainingSamples();
      default:
        return stub.samples();
    }
  }

  /** Checked when the run is sized, not when the config is parsed: it is about the data, not a key's value. */
  private void checkModelFitsData() {
    if (model.type().equals("cnn") && !dataset.images()) {
      String data = dataset.format().equals("synthetic") ? "dataset.synthetic = " + dataset.synthetic() : "dataset.format = " + dataset.format();
      throw new RunConfigException("config key 'model.type': cnn needs images, but " + data + " is tabular; allowed: "
          + "model.type = mlp, or image data (dataset.format = idx, image-folder, or synthetic with dataset.synthetic = shapes)");
    }
  }

  private long countedTrainingSamples() {
    long samples = countedTrainingSamples;
    if (samples < 0) {
      // Checked here, where the data is needed, not when parsing: `quarry config` shows a config without its data.
      if (dataset.path().isBlank()) {
        String expected = switch (dataset.format()) {
          case "csv" -> "a path to a .csv or .csv.gz file, e.g. dataset.path = \"data/digits.csv.gz\"";
          case "idx" -> "the directory holding " + IdxFiles.TRAIN_IMAGES + " and " + IdxFiles.TRAIN_LABELS
              + " (each may be .gz), e.g. dataset.path = \"data/mnist\"";
          default -> "the directory of class subdirectories of PNG/JPEG images, e.g. dataset.path = \"data/flowers\"";
        };
        throw new RunConfigException("config key 'dataset.path': empty, but trainer = djl with dataset.format = "
            + dataset.format() + " needs the data to read; allowed: " + expected);
      }
      Path path = Path.of(dataset.path());
      samples = switch (dataset.format()) {
        case "csv" -> Dataset.trainCount(CsvRows.count(path), dataset.valFraction());
        case "idx" -> IdxFiles.locate(path).trainingSamples(dataset.valFraction());
        default -> ImageFolderFiles.list(path).trainingSamples(dataset.valFraction());
      };
      countedTrainingSamples = samples;
    }
    return samples;
  }

  private RunConfig(Config config) {
    this.config = config;
    name = config.getString("name");
    trainer = config.getString("trainer");
    epochs = config.getInt("epochs");
    batchSize = config.getInt("batch-size");
    seed = config.getLong("seed");
    shards = config.getInt("shards");
    priority = config.getInt("priority");
    maxAttempts = config.getInt("max-attempts");
    checkpointEverySteps = config.getInt("checkpoint.every-steps");
    learningRate = config.getDouble("optimizer.lr");
    stragglerFactor = config.getDouble("stragglers.factor");
    stragglerWindow = config.getDuration("stragglers.window");
    speculative = config.getBoolean("speculative");
    hardExamples = new HardExamples(
        config.getInt("hard-examples.k"),
        config.getString("hard-examples.window").equals("run"),
        config.getString("hard-examples.merge-mode"),
        config.getDuration("hard-examples.merge-interval"),
        config.getDuration("hard-examples.merge-timeout"),
        config.getDouble("hard-examples.threshold-quantile"));
    telemetry = new Telemetry(
        config.getBoolean("telemetry.enabled"),
        config.getInt("telemetry.every-steps"),
        config.getInt("telemetry.buffer-size"),
        config.getInt("telemetry.batch-size"),
        config.getDuration("telemetry.batch-interval"));
    stub = new Stub(
        config.getLong("stub.samples"),
        config.getDuration("stub.step-time"),
        config.getDouble("stub.hard-fraction"),
        config.getLong("stub.fail-at-step"),
        config.getInt("stub.fail-attempts"),
        config.getLong("stub.hang-at-step"),
        config.getDouble("stub.slow-factor"),
        config.getInt("stub.slow-attempts"),
        List.copyOf(config.getIntList("stub.fault-shards")));
    process = new Process(
        List.copyOf(config.getStringList("process.command")),
        config.getLong("process.samples"),
        config.getString("process.workdir"),
        List.copyOf(config.getStringList("process.metrics")),
        config.getDuration("process.grace"),
        config.getDuration("process.hang-timeout"));
    dataset = new Dataset(
        config.getString("dataset.format"),
        config.getString("dataset.path"),
        config.getString("dataset.synthetic"),
        config.getInt("dataset.features"),
        config.getInt("dataset.image-size"),
        config.getInt("dataset.channels"),
        config.getInt("dataset.label-column"),
        config.getDouble("dataset.val-fraction"),
        config.getLong("dataset.samples"),
        config.getString("dataset.normalize"),
        config.getBoolean("dataset.shuffle"));
    if (dataset.channels() == 2) {
      throw new RunConfigException("config key 'dataset.channels': 2 is not allowed; allowed: 1 (grayscale) or 3 (RGB)");
    }
    model = new Model(
        config.getString("model.type"),
        List.copyOf(config.getIntList("model.hidden")),
        List.copyOf(config.getIntList("model.channels")),
        config.getDouble("model.dropout"));
    optimizer = new Optimizer(
        config.getString("optimizer.type"),
        config.getDouble("optimizer.momentum"),
        config.getDouble("optimizer.weight-decay"),
        config.getString("optimizer.schedule"),
        config.getLong("optimizer.warmup-steps"),
        config.getLong("optimizer.decay-every"),
        config.getDouble("optimizer.decay-factor"));
    sync = new Sync(
        config.getString("sync.mode").equals("average"),
        config.getLong("sync.every"),
        config.getDuration("sync.timeout"));
    if (speculative && sync.average()) {
      throw new RunConfigException("config key 'speculative': on cannot be combined with sync.mode = average (a "
          + "speculative copy would send a second set of parameters for its shard to every averaging round); allowed: "
          + "speculative = off with sync.mode = average, or sync.mode = none");
    }
    if (trainer.equals("process") && process.command().isEmpty()) {
      throw new RunConfigException("config key 'process.command': empty, but trainer = process needs the program to run; "
          + "allowed: a non-empty list of strings, e.g. process.command = [\"python3\", \"train.py\", \"--shard\", \"{shard}\"]");
    }
  }

  /** Parses and validates run-config HOCON (keys without the {@code quarry.run.} prefix) over the defaults. */
  public static RunConfig parse(String hocon) {
    return parse(hocon, List.of());
  }

  /**
   * Run-config HOCON with {@code key=value} overrides (as typed on the command line) applied over it, in order (a
   * later override of a key wins), validated once: the overrides are one change to the config, so their order never
   * decides whether it is valid ({@code trainer=process} before or after {@code process.command=[...]}).
   */
  public static RunConfig parse(String hocon, List<String> overrides) {
    Config user;
    try {
      user = ConfigFactory.parseString(hocon).resolve();
    } catch (ConfigException e) {
      throw new RunConfigException("run config is not valid HOCON: " + e.getMessage());
    }
    return validate(applied(user, overrides));
  }

  /**
   * Builds a run config from {@code key=value} overrides (as typed on the command line) over the defaults,
   * then applies {@code QUARRY_DISABLE_TELEMETRY} from {@code env}.
   */
  public static RunConfig fromOverrides(List<String> overrides, Map<String, String> env) {
    Config user = applied(ConfigFactory.empty(), overrides);
    if (telemetryDisabledBy(env)) user = user.withValue("telemetry.enabled", ConfigValueFactory.fromAnyRef(false));
    return validate(user);
  }

  /** True when the environment asks for fast mode. */
  public static boolean telemetryDisabledBy(Map<String, String> env) {
    return "true".equalsIgnoreCase(env.getOrDefault(DISABLE_TELEMETRY_ENV, "").trim());
  }

  /** This config with more {@code key=value} overrides applied, in order, validated once. */
  public RunConfig with(String... overrides) {
    return validate(applied(config, List.of(overrides)));
  }

  /** {@code base} with the overrides applied in order: a later one wins. */
  private static Config applied(Config base, List<String> overrides) {
    Config user = base;
    for (String override : overrides) user = parseOverride(override).withFallback(user);
    return user;
  }

  private static Config parseOverride(String override) {
    int eq = override.indexOf('=');
    if (eq <= 0) {
      throw new RunConfigException("override '" + override + "' is not of the form key=value (e.g. epochs=3)");
    }
    String key = override.substring(0, eq).trim();
    String value = override.substring(eq + 1).trim();
    try {
      return ConfigFactory.parseString(quoteKey(key) + " = " + (value.isEmpty() ? "\"\"" : value)).resolve();
    } catch (ConfigException e) {
      // Not HOCON (for instance an unbalanced bracket): take the text literally as a string.
      return ConfigFactory.empty().withValue(key, ConfigValueFactory.fromAnyRef(value));
    }
  }

  private static String quoteKey(String key) {
    if (!key.matches("[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*")) {
      throw new RunConfigException("override key '" + key + "' is not a config path (letters, digits, '-', '_' and '.')");
    }
    return key;
  }

  private static RunConfig validate(Config user) {
    List<String> unknown = new ArrayList<>();
    for (Map.Entry<String, com.typesafe.config.ConfigValue> entry : user.entrySet()) {
      if (RunConfigSchema.key(entry.getKey()) == null) unknown.add(entry.getKey());
    }
    if (!unknown.isEmpty()) {
      String key = unknown.stream().sorted().findFirst().orElseThrow();
      throw new RunConfigException("unknown config key '" + key + "' (did you mean '"
          + String.join("' or '", RunConfigSchema.suggestions(key))
          + "'?); `quarry local --help` lists the keys");
    }
    Config merged = user.withFallback(DEFAULTS).resolve();
    for (ConfigKey key : RunConfigSchema.keys()) key.check(merged);
    return new RunConfig(merged);
  }

  /** The resolved config as HOCON, every key present; parses back to an equal config. */
  public String toHocon() {
    return config.root().render(ConfigRenderOptions.defaults().setOriginComments(false).setComments(false).setJson(false));
  }

  /** The raw value of one key, for trainers that read their own section. */
  public Config raw() {
    return config;
  }

  /** True when per-step telemetry is on. */
  public boolean telemetryEnabled() {
    return telemetry.enabled();
  }
}
