package io.quarry.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class RunConfigTest {
  private static final Map<String, String> NO_ENV = Map.of();

  private static RunConfig overrides(String... overrides) {
    return RunConfig.fromOverrides(List.of(overrides), NO_ENV);
  }

  /** Asserts the overrides are rejected with one line that contains every fragment. */
  private static String rejected(String override, String... fragments) {
    RunConfigException e = assertThrows(RunConfigException.class, () -> overrides(override));
    String message = e.getMessage();
    assertFalse(message.contains("\n") || message.contains("\r"), "one line: " + message);
    for (String fragment : fragments) assertTrue(message.contains(fragment), "'" + fragment + "' in: " + message);
    return message;
  }

  @Test
  void defaultsParse() {
    RunConfig config = RunConfig.parse("");

    assertEquals("", config.name);
    assertEquals("toy", config.trainer, "this module's tests make their test trainer the default");
    assertEquals(3, config.epochs);
    assertEquals(32, config.batchSize);
    assertEquals(42L, config.seed);
    assertEquals(0, config.shards);
    assertEquals(3, config.maxAttempts);
    assertEquals(50, config.checkpointEverySteps);
    assertEquals(0.01, config.learningRate, 0.0);
    assertEquals(
        new RunConfig.HardExamples(128, false, "round-robin", Duration.ofSeconds(1), Duration.ofSeconds(2), 0.9),
        config.hardExamples);
    assertEquals(new RunConfig.Telemetry(true, 1, 8192, 512, Duration.ofMillis(200)), config.telemetry);
    assertEquals(2.0, config.stragglerFactor);
    assertEquals(Duration.ofSeconds(5), config.stragglerWindow);
    assertFalse(config.speculative);
    assertEquals(new RunConfig.Sync(false, 10, Duration.ofSeconds(10)), config.sync);
    assertEquals(1000, config.datasetSamples(), "sized by the trainer's spec");
  }

  @Test
  void emptyOverridesGiveTheDefaults() {
    assertEquals(RunConfig.parse("").raw(), overrides().raw());
  }

  @Test
  void eachTrainerContributesItsSectionToTheSchema() {
    assertEquals(List.of("needy", "toy"), RunConfigSchema.trainerNames());
    assertEquals(ConfigKey.Kind.LONG, RunConfigSchema.key("toy.samples").kind());
    assertEquals(ConfigKey.Kind.STRING_LIST, RunConfigSchema.key("needy.command").kind());
    assertEquals("toy", RunConfigSchema.trainer("toy").name());
    RunConfigException e = assertThrows(RunConfigException.class, () -> RunConfigSchema.trainer("bogus"));
    assertTrue(e.getMessage().contains("one of needy, toy"), e.getMessage());
    // A trainer's keys are valid whichever trainer the run selects (a run file may carry keys for several).
    assertEquals(5, RunConfig.parse("", List.of("toy.samples=5")).datasetSamples());
  }

  @Test
  void schemaAndReferenceConfNameTheSameKeys() {
    Config reference = ConfigFactory.defaultReference().getConfig("quarry.run");
    Set<String> inReference = reference.entrySet().stream().map(Map.Entry::getKey).collect(Collectors.toCollection(TreeSet::new));
    Set<String> inSchema = RunConfigSchema.keys().stream().map(ConfigKey::path).collect(Collectors.toCollection(TreeSet::new));

    Set<String> missingFromReference = new TreeSet<>(inSchema);
    missingFromReference.removeAll(inReference);
    Set<String> missingFromSchema = new TreeSet<>(inReference);
    missingFromSchema.removeAll(inSchema);

    assertTrue(missingFromReference.isEmpty(), "schema keys without a default in reference.conf: " + missingFromReference);
    assertTrue(missingFromSchema.isEmpty(), "reference.conf keys missing from RunConfigSchema: " + missingFromSchema);
  }

  @Test
  void everyDefaultPassesItsOwnSchemaCheck() {
    Config reference = ConfigFactory.defaultReference().getConfig("quarry.run");
    for (ConfigKey key : RunConfigSchema.keys()) key.check(reference);
  }

  @Test
  void overridesApply() {
    RunConfig config = overrides("epochs=3", "hard-examples.k=64", "seed=7");

    assertEquals(3, config.epochs);
    assertEquals(64, config.hardExamples.k());
    assertEquals(7L, config.seed);
    assertEquals(32, config.batchSize, "untouched keys keep their default");
  }

  @Test
  void laterOverrideOfTheSameKeyWins() {
    assertEquals(5, overrides("epochs=2", "epochs=5").epochs);
  }

  @Test
  void withAppliesOneMoreOverride() {
    RunConfig config = overrides("seed=7").with("epochs=9");

    assertEquals(9, config.epochs);
    assertEquals(7L, config.seed);
  }

  @Test
  void durationOverridesParse() {
    RunConfig config = overrides("toy.step-time=5ms", "hard-examples.merge-interval=2s");

    assertEquals(Duration.ofMillis(5), config.raw().getDuration("toy.step-time"));
    assertEquals(Duration.ofSeconds(2), config.hardExamples.mergeInterval());
  }

  @Test
  void listOverridesParse() {
    assertEquals(List.of(0, 2), overrides("toy.fault-shards=[0,2]").raw().getIntList("toy.fault-shards"));
  }

  @Test
  void choiceOverridesParse() {
    RunConfig config = overrides("hard-examples.merge-mode=top-k", "hard-examples.window=run", "name=my run");

    assertEquals("top-k", config.hardExamples.mergeMode());
    assertTrue(config.hardExamples.runWindow());
    assertEquals("my run", config.name);
  }

  @Test
  void toHoconParsesBackToAnEqualConfig() {
    RunConfig config = overrides(
        "epochs=4", "hard-examples.k=64", "seed=-7", "toy.step-time=5ms", "toy.fault-shards=[0,2]",
        "optimizer.lr=0.5", "name=a \"quoted\" name", "telemetry.enabled=false");

    RunConfig reparsed = RunConfig.parse(config.toHocon());

    assertEquals(config.raw(), reparsed.raw());
    assertEquals(config.toHocon(), reparsed.toHocon());
    assertEquals(config.hardExamples, reparsed.hardExamples);
    assertEquals(config.telemetry, reparsed.telemetry);
    assertEquals(config.name, reparsed.name);
    assertEquals(config.seed, reparsed.seed);
    assertEquals(config.learningRate, reparsed.learningRate, 0.0);
  }

  @Test
  void unknownKeyIsRejectedWithTheNearestKnownKey() {
    rejected("hard-examples.kk=5", "'hard-examples.kk'", "did you mean 'hard-examples.k'");
    rejected("epoch=5", "'epoch'", "did you mean 'epochs'");
  }

  @Test
  void unknownKeyInHoconIsRejected() {
    RunConfigException e = assertThrows(RunConfigException.class, () -> RunConfig.parse("toy { step-tme = 5ms }"));
    assertTrue(e.getMessage().contains("'toy.step-tme'") && e.getMessage().contains("'toy.step-time'"), e.getMessage());
  }

  @Test
  void outOfRangeIntegerNamesKeyValueAndRange() {
    rejected("hard-examples.k=0", "'hard-examples.k'", "invalid value 0", "an integer from 1 to 16777216");
    rejected("epochs=-1", "'epochs'", "invalid value -1", "an integer from 1 to 1000000");
  }

  @Test
  void nonNumericIntegerNamesKeyValueAndRange() {
    rejected("hard-examples.k=abc", "'hard-examples.k'", "abc", "an integer from 1 to");
  }

  @Test
  void integerBeyondIntRangeIsRejectedCleanly() {
    rejected("epochs=99999999999", "'epochs'", "99999999999", "an integer from 1 to 1000000");
  }

  @Test
  void unknownTrainerListsTheAllowedTrainers() {
    rejected("trainer=bogus", "'trainer'", "bogus", "one of " + String.join(", ", RunConfigSchema.trainerNames()));
  }

  @Test
  void syncKeysReachTheTypedView() {
    RunConfig config = overrides("sync.mode=average", "sync.every=5", "sync.timeout=3s");

    assertEquals(new RunConfig.Sync(true, 5, Duration.ofSeconds(3)), config.sync);
    assertEquals(false, overrides().sync.average());
  }

  @Test
  void allreduceAndTheTransportsReachTheTypedView() {
    RunConfig.Sync allReduce = overrides("sync.mode=allreduce").sync;
    assertTrue(allReduce.allReduce() && allReduce.ring() && !allReduce.average());
    assertTrue(overrides("sync.mode=average").sync.ring(), "averaging goes on the ring by default");
    RunConfig.Sync viaCoordinator = overrides("sync.mode=average", "sync.transport=coordinator").sync;
    assertTrue(viaCoordinator.coordinatorAverages() && !viaCoordinator.ring());
    assertFalse(overrides().sync.ring());
  }

  @Test
  void allreduceCannotGoThroughTheCoordinator() {
    RunConfigException e = assertThrows(RunConfigException.class,
        () -> overrides("sync.mode=allreduce", "sync.transport=coordinator"));
    for (String fragment : List.of("'sync.transport'", "allreduce", "allowed")) {
      assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }
    rejected("sync.transport=pigeon", "'sync.transport'", "pigeon");
  }

  @Test
  void speculativeCopiesCannotBeCombinedWithParameterAveraging() {
    RunConfigException e = assertThrows(RunConfigException.class, () -> overrides("sync.mode=average", "speculative=on"));

    for (String fragment : List.of("'speculative'", "sync.mode = average", "allowed", "sync.mode = none")) {
      assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' in: " + e.getMessage());
    }
    assertTrue(overrides("speculative=on").speculative);
  }

  @Test
  void aGangIsAtMostTheRunsShards() {
    assertEquals(4, overrides("shards=4", "min-workers=4").minWorkers);
    assertEquals(0, overrides().minWorkers, "no gang by default: a run starts with any worker");
    assertEquals(8, overrides("min-workers=8").minWorkers, "shards = 0: one per worker, so any gang fits");
    RunConfigException e = assertThrows(RunConfigException.class, () -> overrides("shards=3", "min-workers=4"));
    for (String fragment : List.of("'min-workers'", "4 is more than shards = 3", "allowed: 0 to 3")) {
      assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' in: " + e.getMessage());
    }
  }

  @Test
  void aTrainersOwnCheckRefusesTheRunNamingTheKey() {
    rejected("trainer=needy", "'needy.command'", "trainer = needy");
    assertEquals(List.of("run"), overrides("trainer=needy", "needy.command=[run]").raw().getStringList("needy.command"));
    // Only for runs that select it: the default trainer does not need needy.command.
    assertTrue(overrides("needy.command=[]").raw().getStringList("needy.command").isEmpty());
  }

  @Test
  void aListKeyGivenAPlainStringIsRejected() {
    rejected("needy.command=python3", "'needy.command'", "a list of strings");
  }

  @Test
  void unknownMergeModeListsTheAllowedModes() {
    rejected("hard-examples.merge-mode=fastest", "'hard-examples.merge-mode'", "fastest", "one of round-robin, top-k");
  }

  @Test
  void badDurationNamesKeyValueAndForm() {
    rejected("toy.step-time=banana", "'toy.step-time'", "banana", "a duration from 0ms to");
    rejected("toy.step-time=-5ms", "'toy.step-time'", "-5ms", "a duration from 0ms to");
  }

  @Test
  void badListNamesKeyValueAndForm() {
    rejected("toy.fault-shards=[0,x]", "'toy.fault-shards'", "a list of integers");
    rejected("toy.fault-shards=[-1]", "'toy.fault-shards'", "a list of integers from 0");
    rejected("toy.fault-shards=[0,2", "'toy.fault-shards'", "a list of integers");
  }

  @Test
  void overrideWithoutEqualsSignIsRejected() {
    rejected("epochs", "'epochs'", "key=value");
    rejected("=3", "'=3'", "key=value");
  }

  @Test
  void overrideWithAMalformedKeyIsRejectedWithARunConfigException() {
    rejected("epochs..x=3", "epochs..x");
    rejected("bad key=3", "'bad key'");
  }

  @Test
  void nonBooleanTelemetryFlagIsRejected() {
    rejected("telemetry.enabled=maybe", "'telemetry.enabled'", "maybe", "true or false");
  }

  @Test
  void includesInRunConfigTextAreRefusedNeverSilentlySkipped() {
    for (String include : List.of("include \"base.conf\"", "include \"/etc/quarry/secret.conf\"",
        "include file(\"/etc/passwd\")", "include url(\"http://example.com/x.conf\")",
        "include classpath(\"reference.conf\")", "include required(\"base.conf\")")) {
      RunConfigException e = assertThrows(RunConfigException.class, () -> RunConfig.parse(include + "\nepochs = 5"));
      assertTrue(e.getMessage().contains("is not allowed") && e.getMessage().contains("resolve a run file's includes"),
          include + ": " + e.getMessage());
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
    // The word in a value is no include.
    assertEquals("include me", RunConfig.parse("name = \"include me\"").name);
  }

  @Test
  void malformedHoconIsRejectedOnOneLine() {
    RunConfigException e = assertThrows(RunConfigException.class, () -> RunConfig.parse("epochs = [1,"));
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    assertTrue(e.getMessage().startsWith("run config is not valid HOCON"), e.getMessage());
  }

  @Test
  void disableTelemetryEnvironmentVariableTurnsTelemetryOff() {
    assertFalse(RunConfig.fromOverrides(List.of(), Map.of(RunConfig.DISABLE_TELEMETRY_ENV, "true")).telemetryEnabled());
    assertFalse(RunConfig.fromOverrides(List.of(), Map.of(RunConfig.DISABLE_TELEMETRY_ENV, " TRUE ")).telemetryEnabled());
    assertFalse(
        RunConfig.fromOverrides(List.of("telemetry.enabled=true"), Map.of(RunConfig.DISABLE_TELEMETRY_ENV, "true"))
            .telemetryEnabled(),
        "the environment wins over an override");
  }

  @Test
  void disableTelemetryEnvironmentVariableFalseOrAbsentLeavesTelemetryOn() {
    assertTrue(RunConfig.fromOverrides(List.of(), Map.of(RunConfig.DISABLE_TELEMETRY_ENV, "false")).telemetryEnabled());
    assertTrue(RunConfig.fromOverrides(List.of(), Map.of(RunConfig.DISABLE_TELEMETRY_ENV, "")).telemetryEnabled());
    assertTrue(RunConfig.fromOverrides(List.of(), NO_ENV).telemetryEnabled());
    assertFalse(RunConfig.fromOverrides(List.of("telemetry.enabled=false"), NO_ENV).telemetryEnabled());
  }

  @Test
  void overridesAreValidatedOnceWhateverTheirOrder() {
    String command = "needy.command=[\"python3\", \"train.py\"]";
    RunConfig trainerFirst = RunConfig.parse("", List.of("trainer=needy", command));
    RunConfig commandFirst = RunConfig.parse("", List.of(command, "trainer=needy"));
    assertEquals(trainerFirst.toHocon(), commandFirst.toHocon());
    assertEquals(List.of("python3", "train.py"), trainerFirst.raw().getStringList("needy.command"));
    // A later override of the same key wins; the result is still checked as a whole.
    assertEquals(4, RunConfig.parse("epochs = 2", List.of("epochs=3", "epochs=4")).epochs);
    RunConfigException e = assertThrows(RunConfigException.class, () -> RunConfig.parse("", List.of("trainer=needy")));
    assertTrue(e.getMessage().contains("'needy.command'"), e.getMessage());
  }

  @Test
  void aKeyThatIsTheTailOfARealKeySuggestsThatKeyBeforeEditDistance() {
    rejected("merge-interval=5s", "'merge-interval'", "did you mean 'hard-examples.merge-interval'");
    rejected("every-steps=5", "did you mean 'checkpoint.every-steps' or 'telemetry.every-steps'");
    rejected("k=5", "did you mean 'hard-examples.k'");
    assertEquals(List.of("hard-examples.merge-interval"), RunConfigSchema.suggestions("merge-interval"));
    // A typo in the tail alone is compared with the keys' tails, so the right key still comes up.
    assertEquals(List.of("hard-examples.merge-interval"), RunConfigSchema.suggestions("merge-intervall"));
  }

  @Test
  void nearestFindsTheClosestKey() {
    assertEquals("hard-examples.k", RunConfigSchema.nearest("hard-examples.kk"));
    assertEquals("toy.step-time", RunConfigSchema.nearest("toy.steptime"));
    assertEquals(0, RunConfigSchema.editDistance("seed", "seed"));
    assertEquals(3, RunConfigSchema.editDistance("kitten", "sitting"));
  }
}
