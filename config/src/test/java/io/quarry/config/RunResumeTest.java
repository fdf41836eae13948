package io.quarry.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RunResumeTest {
  private final RunConfig original =
      RunConfig.fromOverrides(List.of("epochs=3", "batch-size=16", "toy.samples=100", "optimizer.lr=0.1"), Map.of());

  @Test
  void safeKeysChangeAndEverythingElseStays() {
    RunConfig resumed = RunResume.resumed(original, List.of("epochs=5", "max-attempts=7", "optimizer.lr=0.01",
        "toy.step-time=0", "plots.enabled=false"));
    assertEquals(5, resumed.epochs);
    assertEquals(7, resumed.maxAttempts);
    assertEquals(0.01, resumed.learningRate);
    assertEquals(16, resumed.batchSize);
    assertEquals(100, resumed.raw().getLong("toy.samples"));
    assertEquals(false, resumed.plotsEnabled);
    assertSame(original, RunResume.resumed(original, List.of()));
  }

  @Test
  void keysThatDecideTheShardsOrTheCheckpointsAreRefusedWithTheReasonAndWhatIsAllowed() {
    RunConfigException batch = assertThrows(RunConfigException.class,
        () -> RunResume.resumed(original, List.of("epochs=4", "batch-size=64")));
    assertTrue(batch.getMessage().startsWith("override 'batch-size=64' is refused: batch-size cannot change when a run "
        + "resumes (it decides the shards and their steps"), batch.getMessage());
    assertTrue(batch.getMessage().contains("allowed on resume: epochs (up only), max-attempts, optimizer.lr"),
        batch.getMessage());
    assertTrue(batch.getMessage().contains("toy.step-time"), "the trainer's own resumable keys: " + batch.getMessage());
    RunConfigException trainerKey = assertThrows(RunConfigException.class,
        () -> RunResume.resumed(original, List.of("toy.samples=200")));
    assertTrue(trainerKey.getMessage().contains("a trainer key"), trainerKey.getMessage());
    assertThrows(RunConfigException.class, () -> RunResume.resumed(original, List.of("seed=7")));
    assertThrows(RunConfigException.class, () -> RunResume.resumed(original, List.of("init.from=other")));
  }

  @Test
  void epochsOnlyGoUp() {
    RunConfigException fewer = assertThrows(RunConfigException.class,
        () -> RunResume.resumed(original, List.of("epochs=2")));
    assertEquals("override 'epochs=2' is refused: epochs can only go up when a run resumes (it ran with epochs = 3; "
        + "its shards may have trained past the new end); allowed: epochs >= 3", fewer.getMessage());
    assertEquals(3, RunResume.resumed(original, List.of("epochs=3")).epochs);
  }

  @Test
  void unknownKeysAndBadValuesSayWhatTheyAlwaysSay() {
    RunConfigException unknown = assertThrows(RunConfigException.class,
        () -> RunResume.resumed(original, List.of("epoch=5")));
    assertTrue(unknown.getMessage().startsWith("unknown config key 'epoch'"), unknown.getMessage());
    RunConfigException bad = assertThrows(RunConfigException.class,
        () -> RunResume.resumed(original, List.of("max-attempts=0")));
    assertTrue(bad.getMessage().contains("max-attempts"), bad.getMessage());
  }

  @Test
  void initFromNamesARunAndWhichCheckpoint() {
    assertEquals(null, original.initFrom);
    assertEquals(new RunConfig.InitFrom("base-1", true), original.with("init.from=base-1").initFrom);
    assertEquals(new RunConfig.InitFrom("base-1", true), original.with("init.from=\"base-1:best\"").initFrom);
    assertEquals(new RunConfig.InitFrom("base-1", false), original.with("init.from=\"base-1:last\"").initFrom);
    RunConfigException bad = assertThrows(RunConfigException.class, () -> original.with("init.from=\"a/b\""));
    assertTrue(bad.getMessage().startsWith("config key 'init.from': invalid value a/b; allowed: RUN_ID"),
        bad.getMessage());
  }
}
