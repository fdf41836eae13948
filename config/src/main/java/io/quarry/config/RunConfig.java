package io.quarry.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigIncludeContext;
import com.typesafe.config.ConfigIncluder;
import com.typesafe.config.ConfigIncluderClasspath;
import com.typesafe.config.ConfigIncluderFile;
import com.typesafe.config.ConfigIncluderURL;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValueFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A validated run config: the typed view of the keys every run has, the resolved HOCON of every key (the core keys
 * and each trainer's section, {@link TrainerSpec}) that travels in a run's spec and is written to {@code run.conf},
 * and the trainer it selects. A trainer reads its own section from {@link #raw()} into a typed view of its own.
 */
public final class RunConfig {
  /** The environment variable that turns fast mode on for every run this process starts. */
  public static final String DISABLE_TELEMETRY_ENV = "QUARRY_DISABLE_TELEMETRY";

  private static final Config DEFAULTS = ConfigFactory.defaultReference().getConfig("quarry.run");

  /**
   * Run-config text is parsed with every kind of include refused: text has no directory to resolve a relative include
   * against (Typesafe Config would skip it silently, and the run would get the defaults instead of what was asked),
   * and an absolute one would read a file on whichever machine parses it. Run files are resolved by the CLI.
   */
  private static final ConfigParseOptions NO_INCLUDES = ConfigParseOptions.defaults().setIncluder(new RefusingIncluder());

  private static final class IncludeRefused extends ConfigException {
    final String what;

    IncludeRefused(String what) {
      super("include " + what + " refused");
      this.what = what;
    }
  }

  private static final class RefusingIncluder
      implements ConfigIncluder, ConfigIncluderFile, ConfigIncluderURL, ConfigIncluderClasspath {
    @Override
    public ConfigIncluder withFallback(ConfigIncluder fallback) {
      return this;
    }

    @Override
    public ConfigObject include(ConfigIncludeContext context, String what) {
      throw new IncludeRefused("\"" + what + "\"");
    }

    @Override
    public ConfigObject includeFile(ConfigIncludeContext context, java.io.File what) {
      throw new IncludeRefused("file(\"" + what + "\")");
    }

    @Override
    public ConfigObject includeURL(ConfigIncludeContext context, java.net.URL what) {
      throw new IncludeRefused("url(\"" + what + "\")");
    }

    @Override
    public ConfigObject includeResources(ConfigIncludeContext context, String what) {
      throw new IncludeRefused("classpath(\"" + what + "\")");
    }
  }

  private final Config config;

  public final String name;
  public final String trainer;
  public final int epochs;
  public final int batchSize;
  public final long seed;
  public final int shards;
  public final int minWorkers;
  public final int priority;
  public final int maxAttempts;
  public final int checkpointEverySteps;
  public final double learningRate;
  public final HardExamples hardExamples;
  public final Telemetry telemetry;
  public final Sync sync;
  public final double stragglerFactor;
  public final Duration stragglerWindow;
  public final boolean speculative;
  /** {@code plots.enabled}: PNG plots in the run directory when the run ends. */
  public final boolean plotsEnabled;
  /** {@code init.from}: the run whose parameters every shard starts from; null when none. */
  public final InitFrom initFrom;
  public final Alerts alerts;

  /** {@code hard-examples.*}. */
  public record HardExamples(
      int k, boolean runWindow, String mergeMode, Duration mergeInterval, Duration mergeTimeout, double thresholdQuantile) {}

  /**
   * {@code alerts.*}.
   *
   * @param stopOnNonFinite stop the run when a loss becomes NaN or infinite
   * @param stalledAfter an alert when no running shard advances for this long; zero = never
   */
  public record Alerts(boolean stopOnNonFinite, Duration stalledAfter) {}

  /** {@code telemetry.*}. */
  public record Telemetry(boolean enabled, int everySteps, int bufferSize, int batchSize, Duration batchInterval) {}

  /**
   * {@code sync.*}: how the shards of a run share one model.
   *
   * @param average true for {@code sync.mode = average}
   * @param every steps between averaging rounds
   * @param timeout a round completes (averaging through the coordinator) or aborts (on the ring) without the shards
   *     that have not answered within this
   * @param allReduce true for {@code sync.mode = allreduce}: gradients averaged every step, on the ring
   * @param viaCoordinator true for {@code sync.transport = coordinator}: averaging goes through the run actor
   */
  public record Sync(boolean average, long every, Duration timeout, boolean allReduce, boolean viaCoordinator) {
    /** Averaging ({@code average}) or none, on the ring. */
    public Sync(boolean average, long every, Duration timeout) {
      this(average, every, timeout, false, false);
    }

    /** Whether the run's shards exchange parameters or gradients peer to peer, on an all-reduce ring. */
    public boolean ring() {
      return allReduce || (average && !viaCoordinator);
    }

    /** Whether the run actor averages the shards' parameters ({@code sync.transport = coordinator}). */
    public boolean coordinatorAverages() {
      return average && viaCoordinator;
    }
  }

  /**
   * {@code init.from}: start every shard from another run's parameters (fine-tuning), at step 0 with a fresh
   * optimizer.
   *
   * @param runId the run whose checkpoints hold the parameters, in the same runs directory
   * @param best true for its best checkpoint (lowest validation loss of any shard; its last when none was
   *     evaluated), false for its last (the furthest step of any shard)
   */
  public record InitFrom(String runId, boolean best) {
    private static final java.util.regex.Pattern FORM =
        java.util.regex.Pattern.compile("([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})(?::(best|last))?");

    /** The value of {@code init.from}; null when it is empty. */
    static InitFrom parse(String value) {
      if (value.isBlank()) return null;
      java.util.regex.Matcher matcher = FORM.matcher(value.strip());
      if (!matcher.matches()) {
        throw new RunConfigException("config key 'init.from': invalid value " + value + "; allowed: RUN_ID, "
            + "RUN_ID:best or RUN_ID:last (a run in the same runs directory), or empty");
      }
      return new InitFrom(matcher.group(1), !"last".equals(matcher.group(2)));
    }

    @Override
    public String toString() {
      return runId + (best ? ":best" : ":last");
    }
  }

  private RunConfig(Config config) {
    this.config = config;
    name = config.getString("name");
    trainer = config.getString("trainer");
    epochs = config.getInt("epochs");
    batchSize = config.getInt("batch-size");
    seed = config.getLong("seed");
    shards = config.getInt("shards");
    minWorkers = config.getInt("min-workers");
    priority = config.getInt("priority");
    maxAttempts = config.getInt("max-attempts");
    checkpointEverySteps = config.getInt("checkpoint.every-steps");
    learningRate = config.getDouble("optimizer.lr");
    stragglerFactor = config.getDouble("stragglers.factor");
    stragglerWindow = config.getDuration("stragglers.window");
    speculative = config.getBoolean("speculative");
    plotsEnabled = config.getBoolean("plots.enabled");
    initFrom = InitFrom.parse(config.getString("init.from"));
    alerts = new Alerts(config.getBoolean("alerts.stop-on-nonfinite"), config.getDuration("alerts.stalled-after"));
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
    sync = new Sync(
        config.getString("sync.mode").equals("average"),
        config.getLong("sync.every"),
        config.getDuration("sync.timeout"),
        config.getString("sync.mode").equals("allreduce"),
        config.getString("sync.transport").equals("coordinator"));
    if (sync.allReduce() && sync.viaCoordinator()) {
      throw new RunConfigException("config key 'sync.transport': coordinator cannot carry sync.mode = allreduce (a "
          + "round every step through the coordinator); allowed: sync.transport = ring with allreduce, or sync.mode = "
          + "average with either transport");
    }
    if (shards > 0 && minWorkers > shards) {
      throw new RunConfigException("config key 'min-workers': " + minWorkers + " is more than shards = " + shards
          + " (a worker trains one shard at a time, so the run could never use them all); allowed: 0 to " + shards);
    }
    if (speculative && (sync.average() || sync.allReduce())) {
      throw new RunConfigException("config key 'speculative': on cannot be combined with sync.mode = "
          + (sync.allReduce() ? "allreduce" : "average") + " (a speculative copy would send a second set of parameters "
          + "for its shard to every round); allowed: speculative = off with sync.mode = average or allreduce, or "
          + "sync.mode = none");
    }
  }

  /** The trainer this run selects: its section of the schema, its checks, and how to size its data. */
  public TrainerSpec trainerSpec() {
    return RunConfigSchema.trainer(trainer);
  }

  /**
   * The ranks of the run's process group ({@link TrainerSpec#ranks}): all its shards start together, and any rank's
   * failure restarts them all. 0 when the shards train on their own.
   */
  public int groupRanks() {
    return trainerSpec().ranks(this);
  }

  /**
   * The fewest ranks a restart of the run's process group may start with ({@link TrainerSpec#minRanks}): below
   * {@link #groupRanks} the group is elastic. 0 when the shards train on their own.
   */
  public int groupMinRanks() {
    return groupRanks() > 0 ? trainerSpec().minRanks(this) : 0;
  }

  /** How long a restarting process group with fewer workers than ranks waits for more ({@link TrainerSpec#rankLastCall}). */
  public Duration groupLastCall() {
    return trainerSpec().rankLastCall(this);
  }

  /**
   * The workers the run must have at once before it starts (a gang): {@code min-workers}, or every rank of its process
   * group. 0 for any number.
   */
  public int gangSize() {
    return Math.max(minWorkers, groupRanks());
  }

  /** How many shards the run is cut into: {@code shards}, else its process group's ranks, else one per live worker. */
  public int shardCount(long liveWorkers) {
    if (shards > 0) return shards;
    int ranks = groupRanks();
    return ranks > 0 ? ranks : (int) Math.max(1, liveWorkers);
  }

  /**
   * The number of samples the run's training data holds (what the coordinator splits into shards), from the
   * trainer. May read files: call it where blocking is allowed, never on an actor's thread.
   */
  public long datasetSamples() {
    return trainerSpec().samples(this);
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
      user = ConfigFactory.parseString(hocon, NO_INCLUDES).resolve();
    } catch (IncludeRefused e) {
      throw new RunConfigException("run config: `include " + e.what + "` is not allowed in a run config sent as text (it "
          + "would be read on the coordinator's machine, or not at all); allowed: the resolved config: quarry submit and "
          + "quarry local resolve a run file's includes on your machine before they send it");
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
    RunConfig config = new RunConfig(merged);
    config.trainerSpec().check(config);
    return config;
  }

  /** The resolved config as HOCON, every key present; parses back to an equal config. */
  public String toHocon() {
    return config.root().render(ConfigRenderOptions.defaults().setOriginComments(false).setComments(false).setJson(false));
  }

  /** Every key's value, for trainers that read their own section. */
  public Config raw() {
    return config;
  }

  /** True when per-step telemetry is on. */
  public boolean telemetryEnabled() {
    return telemetry.enabled();
  }
}
