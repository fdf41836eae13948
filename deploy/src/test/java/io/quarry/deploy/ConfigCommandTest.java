package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.ConfigKey;
import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigSchema;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code quarry config}: the resolved config of a run file and overrides, the defaults, the schema. */
class ConfigCommandTest extends CliCapture {
  @TempDir Path tmp;

  @Test
  void printsTheRunFileWithItsIncludeAndOverridesResolved() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("conf"));
    Files.writeString(dir.resolve("base.conf"), "batch-size = 64\nhard-examples { k = 16 }\n");
    Files.writeString(dir.resolve("run.conf"), "include \"base.conf\"\nepochs = 5\n");

    int exit = QuarryCli.run("config", dir.resolve("run.conf").toString(), "epochs=7", "stub.fault-shards=[0,2]",
        "name=\"my run\"");

    assertEquals(0, exit, stderr());
    RunConfig printed = RunConfig.parse(stdout());
    assertEquals(7, printed.epochs, "the override wins over the file");
    assertEquals(64, printed.batchSize, "from the included file, resolved relative to the run file");
    assertEquals(16, printed.hardExamples.k());
    assertEquals(List.of(0, 2), printed.raw().getIntList("stub.fault-shards"));
    assertEquals("my run", printed.name);
    assertEquals(RunConfigSchema.keys().size(), stdout().strip().lines().count(), "one line per key");
  }

  @Test
  void overridesApplyTogetherSoTheirOrderDoesNotMatter() {
    String command = "process.command=[\"python3\",\"train.py\",\"--epochs\",\"3\"]";
    assertEquals(0, QuarryCli.run("config", "trainer=process", command, "process.samples=8000"), stderr());
    String trainerFirst = stdout();
    assertEquals(0, QuarryCli.run("config", command, "process.samples=8000", "trainer=process"), stderr());
    String commandFirst = stdout().substring(trainerFirst.length());

    RunConfig resolved = RunConfig.parse(trainerFirst);
    assertEquals("process", resolved.trainer);
    assertEquals(List.of("python3", "train.py", "--epochs", "3"), resolved.raw().getStringList("process.command"));
    assertEquals(trainerFirst, commandFirst, "the same overrides in another order resolve to the same config");
  }

  @Test
  void everyTrainerOnTheClassPathDefaultsExactlyTheKeysItDeclares() {
    // The launcher's class path has every module: the core keys, the stub and process trainers' sections (worker),
    // the djl trainer's (djl), and the test trainer's.
    assertTrue(RunConfigSchema.trainerNames().containsAll(List.of("djl", "process", "stub", "linear-sgd")),
        RunConfigSchema.trainerNames().toString());
    com.typesafe.config.Config reference = com.typesafe.config.ConfigFactory.defaultReference().getConfig("quarry.run");
    java.util.Set<String> defaulted = new java.util.TreeSet<>();
    reference.entrySet().forEach(entry -> defaulted.add(entry.getKey()));
    java.util.Set<String> declared = new java.util.TreeSet<>();
    for (ConfigKey key : RunConfigSchema.keys()) {
      declared.add(key.path());
      key.check(reference);
    }
    assertEquals(declared, defaulted, "schema keys and reference.conf defaults (quarry.run) name the same keys");
  }

  @Test
  void withNoFilePrintsTheDefaults() {
    assertEquals(0, QuarryCli.run("config"));
    for (ConfigKey key : RunConfigSchema.keys()) assertTrue(stdout().contains(key.path() + " = "), key.path());
    assertEquals(RunConfig.fromOverrides(List.of(), java.util.Map.of()).toHocon(), RunConfig.parse(stdout()).toHocon());
  }

  @Test
  void schemaListsEveryKeyWithTypeDefaultAndMeaning() {
    assertEquals(0, QuarryCli.run("config", "--schema"));
    List<String> lines = stdout().lines().toList();
    assertEquals(RunConfigSchema.keys().size() + 1, lines.size(), stdout());
    for (ConfigKey key : RunConfigSchema.keys()) {
      String line = lines.stream().filter(l -> l.startsWith(key.path() + " ")).findFirst().orElseThrow(() ->
          new AssertionError("no line for " + key.path()));
      assertTrue(line.contains(key.typeName()) && line.contains(key.doc()), line);
    }
    assertTrue(stdout().contains("hard-examples.merge-mode") && stdout().contains("round-robin|top-k"), stdout());
  }

  @Test
  void aBadOverrideIsOneLineAndExitTwo() {
    assertEquals(2, QuarryCli.run("config", "epochz=3"));
    assertTrue(stderr().contains("unknown config key 'epochz' (did you mean 'epochs'?)"), stderr());
    assertEquals(1, stderr().strip().lines().count());
    assertEquals("", stdout());
  }

  @Test
  void aMissingRunFileIsExitTwo() {
    assertEquals(2, QuarryCli.run("config", tmp.resolve("nope.conf").toString()));
    assertTrue(stderr().contains("run file") && stderr().contains("does not exist"), stderr());
  }

  @Test
  void anUnknownKeyInTheRunFileIsNamed() throws Exception {
    Files.writeString(tmp.resolve("bad.conf"), "hard-examples.kk = 3\n");
    assertEquals(2, QuarryCli.run("config", tmp.resolve("bad.conf").toString()));
    assertTrue(stderr().contains("unknown config key 'hard-examples.kk' (did you mean 'hard-examples.k'?)"), stderr());
  }
}
