package io.quarry.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.checkpoint.CheckpointException;
import io.quarry.worker.checkpoint.CheckpointManifest;
import io.quarry.worker.checkpoint.CheckpointStore;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InitCheckpointTest {
  @TempDir Path runs;

  private Path save(String run, int shard, int attempt, long step, double valLoss) throws Exception {
    CheckpointStore store = new CheckpointStore(runs.resolve(run).resolve("checkpoints").resolve(Integer.toString(shard))
        .resolve("attempt-" + attempt), 10);
    return store.save(new CheckpointManifest(step, 0, step, 0, valLoss, "test", step, Map.of()),
        CheckpointStore.FileWriter.NONE);
  }

  private static ShardAssignment attemptOf(Path runs, String run) {
    return new ShardAssignment(0, 2, 1, 0, 10, runs.resolve(run).resolve("checkpoints/0/attempt-1").toString(), null,
        0);
  }

  @Test
  void bestIsTheLowestValidationLossOfAnyShardAndAttemptAndLastTheFurthestStep() throws Exception {
    save("base", 0, 1, 10, 0.9);
    Path best = save("base", 1, 2, 20, 0.3);
    save("base", 1, 2, 30, 0.5);
    Path last = save("base", 0, 3, 40, Double.NaN);
    ShardAssignment tuned = attemptOf(runs, "tuned");
    assertEquals(best, InitCheckpoint.find(tuned, new RunConfig.InitFrom("base", true)));
    assertEquals(last, InitCheckpoint.find(tuned, new RunConfig.InitFrom("base", false)));
  }

  @Test
  void bestFallsBackToLastWhenNothingWasEvaluated() throws Exception {
    save("plain", 0, 1, 10, Double.NaN);
    Path last = save("plain", 0, 1, 20, Double.NaN);
    assertEquals(last, InitCheckpoint.find(attemptOf(runs, "tuned"), new RunConfig.InitFrom("plain", true)));
  }

  @Test
  void aRunWithoutCheckpointsIsAnErrorNamingWhereItLooked() {
    CheckpointException e = assertThrows(CheckpointException.class,
        () -> InitCheckpoint.find(attemptOf(runs, "tuned"), new RunConfig.InitFrom("none", true)));
    assertTrue(e.getMessage().startsWith("init.from = none:best: run none has no complete checkpoint under "),
        e.getMessage());
  }
}
