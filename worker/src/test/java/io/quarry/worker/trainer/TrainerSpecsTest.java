package io.quarry.worker.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.config.RunConfigSchema;
import io.quarry.worker.trainer.process.ProcessSettings;
import io.quarry.worker.trainer.stub.StubSettings;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The sections the stub and process trainers contribute to the run config, read back through their settings. */
class TrainerSpecsTest {
  private static RunConfig overrides(String... overrides) {
    return RunConfig.fromOverrides(List.of(overrides), Map.of());
  }

  private static void rejected(String override, String... fragments) {
    RunConfigException e = assertThrows(RunConfigException.class, () -> overrides(override));
    assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    for (String fragment : fragments) assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' in: " + e.getMessage());
  }

  @Test
  void bothTrainersAreOnTheClassPathAndStubIsTheDefault() {
    assertTrue(RunConfigSchema.trainerNames().containsAll(List.of("process", "stub")), RunConfigSchema.trainerNames().toString());
    assertEquals("stub", RunConfig.parse("").trainer);
  }

  @Test
  void stubDefaultsAndOverrides() {
    assertEquals(new StubSettings(10_000, Duration.ofMillis(10), 0.12, -1, 0, -1, 1.0, 0, -1, List.of()),
        StubSettings.of(RunConfig.parse("")));
    StubSettings stub = StubSettings.of(overrides("stub.step-time=5ms", "stub.fault-shards=[0,2]"));
    assertEquals(Duration.ofMillis(5), stub.stepTime());
    assertEquals(List.of(0, 2), stub.faultShards());
    assertTrue(stub.faultsApplyTo(2));
    assertFalse(stub.faultsApplyTo(1));
    assertTrue(StubSettings.of(RunConfig.parse("")).faultsApplyTo(5), "no fault shards: every shard");
    assertEquals(1234, overrides("stub.samples=1234").datasetSamples(), "the stub's dataset size sizes the run");
  }

  @Test
  void stubKeysAreCheckedWithTheirRanges() {
    rejected("stub.step-time=banana", "'stub.step-time'", "banana", "a duration from 0ms to");
    rejected("stub.fault-shards=[-1]", "'stub.fault-shards'", "a list of integers from 0");
    rejected("stub.step-tme=5ms", "'stub.step-tme'", "did you mean 'stub.step-time'");
  }

  @Test
  void aStubConfigSurvivesItsHocon() {
    RunConfig config = overrides("stub.step-time=5ms", "stub.fault-shards=[0,2]", "seed=-7");
    assertEquals(StubSettings.of(config), StubSettings.of(RunConfig.parse(config.toHocon())));
  }

  @Test
  void processTrainerTakesItsCommandAsAList() {
    RunConfig config = overrides("trainer=process", "process.command=[\"python3\", \"train.py\", \"--shard\", \"{shard}\"]",
        "process.metrics=[acc, grad_norm]", "process.grace=2s", "process.hang-timeout=0", "process.samples=77");
    ProcessSettings process = ProcessSettings.of(config);

    assertEquals("process", config.trainer);
    assertEquals(List.of("python3", "train.py", "--shard", "{shard}"), process.command());
    assertEquals(List.of("acc", "grad_norm"), process.metrics());
    assertEquals(Duration.ofSeconds(2), process.grace());
    assertEquals(Duration.ZERO, process.hangTimeout());
    assertEquals(77, config.datasetSamples());
    assertEquals(new ProcessSettings(List.of(), 10_000, "", List.of(), Duration.ofSeconds(10), Duration.ofMinutes(5)),
        ProcessSettings.of(RunConfig.parse("")));
  }

  @Test
  void processTrainerWithoutACommandNamesTheKey() {
    rejected("trainer=process", "'process.command'", "trainer = process");
    rejected("process.command=python3", "'process.command'", "a list of strings");
  }
}
