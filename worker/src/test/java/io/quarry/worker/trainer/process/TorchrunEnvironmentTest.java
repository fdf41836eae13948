package io.quarry.worker.trainer.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.config.RunConfig;
import io.quarry.config.RunConfigException;
import io.quarry.protocol.DistributedRank;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.trainer.TestTrainerContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code process.distributed = torch}: the config's checks, and torchrun's environment as a rank's program sees it. */
@Timeout(60)
class TorchrunEnvironmentTest {
  @TempDir Path tmp;

  private static RunConfig config(String... overrides) {
    List<String> all = new ArrayList<>(List.of("trainer=process", "process.command=[\"/bin/sh\",\"train.sh\"]"));
    all.addAll(Arrays.asList(overrides));
    return RunConfig.fromOverrides(all, Map.of());
  }

  @Test
  void aDistributedRunIsAGangOfItsRanksAndCutIntoOneShardPerRank() {
    RunConfig byRanks = config("process.distributed=torch", "process.ranks=3");
    RunConfig byShards = config("process.distributed=torch", "shards=2");
    RunConfig alone = config("shards=2");

    assertEquals(3, byRanks.groupRanks());
    assertEquals(3, byRanks.gangSize(), "the run starts only with every rank");
    assertEquals(3, byRanks.shardCount(7), "one shard per rank, however many workers are up");
    assertEquals(2, byShards.groupRanks());
    assertEquals(0, alone.groupRanks());
    assertEquals(0, alone.gangSize());
  }

  @Test
  void minRanksMakesTheGroupElasticBetweenItAndTheRanks() {
    RunConfig elastic = config("process.distributed=torch", "process.ranks=4", "process.min-ranks=2",
        "process.last-call=5s");
    RunConfig whole = config("process.distributed=torch", "process.ranks=4");

    assertEquals(2, elastic.groupMinRanks());
    assertEquals(java.time.Duration.ofSeconds(5), elastic.groupLastCall());
    assertEquals(4, elastic.gangSize(), "the first start is still the whole gang");
    assertEquals(4, whole.groupMinRanks(), "min-ranks 0: a restart waits for every rank");
    assertEquals(java.time.Duration.ofSeconds(30), whole.groupLastCall(), "torchrun's last_call_timeout");
    assertEquals(0, config("shards=2", "process.min-ranks=1").groupMinRanks(), "no group, no min-ranks");

    RunConfigException above = assertThrows(RunConfigException.class,
        () -> config("process.distributed=torch", "process.ranks=2", "process.min-ranks=3"));
    assertTrue(above.getMessage().contains("'process.min-ranks'") && above.getMessage().contains("1 to 2"),
        above.getMessage());
    RunConfigException negative = assertThrows(RunConfigException.class,
        () -> config("process.distributed=torch", "process.ranks=2", "process.min-ranks=-1"));
    assertTrue(negative.getMessage().contains("process.min-ranks"), negative.getMessage());
  }

  @Test
  void refusesConfigsThatCannotFormOneGroup() {
    RunConfigException disagree = assertThrows(RunConfigException.class,
        () -> config("process.distributed=torch", "process.ranks=3", "shards=2"));
    assertTrue(disagree.getMessage().contains("'process.ranks'") && disagree.getMessage().contains("allowed"),
        disagree.getMessage());
    RunConfigException unsized = assertThrows(RunConfigException.class, () -> config("process.distributed=torch"));
    assertTrue(unsized.getMessage().contains("process.ranks = N"), unsized.getMessage());
    RunConfigException speculative = assertThrows(RunConfigException.class,
        () -> config("process.distributed=torch", "shards=2", "speculative=on"));
    assertTrue(speculative.getMessage().contains("'speculative'"), speculative.getMessage());
    RunConfigException gang = assertThrows(RunConfigException.class,
        () -> config("process.distributed=torch", "process.ranks=2", "min-workers=3"));
    assertTrue(gang.getMessage().contains("'min-workers'") && gang.getMessage().contains("0 to 2"), gang.getMessage());
    RunConfigException unknown = assertThrows(RunConfigException.class, () -> config("process.distributed=mpi"));
    assertTrue(unknown.getMessage().contains("process.distributed"), unknown.getMessage());
  }

  @Test
  void aRanksProgramSeesTorchrunsVariables() throws Exception {
    Path checkpoints = Files.createDirectories(tmp.resolve("runs/r/checkpoints/1/attempt-2"));
    RunConfig config = config("process.distributed=torch", "shards=2");
    DistributedRank rank = new DistributedRank(1, 2, 1, 2, 0, 1, "10.1.2.3", 29_501, 1, 2);
    ShardAssignment assignment = new ShardAssignment(1, 2, 2, 500, 500, checkpoints.toString(), null, 0, rank);
    TestTrainerContext context = new TestTrainerContext(config, assignment, checkpoints, null);

    Map<String, String> env = ProcessLaunch.builder(config, context).environment();

    Map<String, String> expected = Map.ofEntries(Map.entry("RANK", "1"), Map.entry("LOCAL_RANK", "1"),
        Map.entry("GROUP_RANK", "0"), Map.entry("ROLE_RANK", "1"), Map.entry("ROLE_NAME", "default"),
        Map.entry("LOCAL_WORLD_SIZE", "2"), Map.entry("WORLD_SIZE", "2"), Map.entry("GROUP_WORLD_SIZE", "1"),
        Map.entry("ROLE_WORLD_SIZE", "2"), Map.entry("MASTER_ADDR", "10.1.2.3"), Map.entry("MASTER_PORT", "29501"),
        Map.entry("TORCHELASTIC_RESTART_COUNT", "1"), Map.entry("TORCHELASTIC_MAX_RESTARTS", "2"),
        Map.entry("TORCHELASTIC_RUN_ID", context.runId()), Map.entry("TORCHELASTIC_USE_AGENT_STORE", "False"),
        Map.entry("QUARRY_FIRST_SAMPLE", "500"), Map.entry("QUARRY_SAMPLE_COUNT", "500"));
    expected.forEach((name, value) -> assertEquals(value, env.get(name), name));
    assertTrue(env.containsKey("OMP_NUM_THREADS"), "two ranks on the host: torchrun's OMP_NUM_THREADS=1 default");
  }

  @Test
  void aShardOnItsOwnGetsNoneOfThem() throws Exception {
    Path checkpoints = Files.createDirectories(tmp.resolve("runs/r/checkpoints/0/attempt-1"));
    RunConfig config = config();
    TestTrainerContext context = TestTrainerContext.forShard(config, 0, 1, 0, 100, checkpoints, null);

    Map<String, String> env = ProcessLaunch.builder(config, context).environment();

    for (String name : List.of("MASTER_PORT", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_USE_AGENT_STORE")) {
      assertFalse(env.containsKey(name) && !env.get(name).equals(System.getenv(name)), name);
    }
  }
}
