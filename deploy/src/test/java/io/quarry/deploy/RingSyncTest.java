package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The all-reduce ring end to end in local mode (every message through the Kryo serializer; the shard attempts, all in
 * this JVM, share one data plane and sum among themselves without a socket: the hierarchical reduction of {@code
 * io.quarry.worker.collective.HierarchicalRing}), with the test trainer {@code linear-sgd}: N workers with batch B and
 * {@code allreduce} every step, or {@code average} with {@code sync.every = 1}, train the model one worker trains
 * with batch N·B; the coordinator only publishes rings (no averaging round goes through it).
 */
@Timeout(240)
class RingSyncTest {
  private static final int SAMPLES = 256;
  private static final int EPOCHS = 25;

  @TempDir Path runsDir;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  /** Full-batch steps (one per epoch): a single worker's batch is the union of the N workers' batches. */
  private void train(String runId, int shards, String syncMode) throws Exception {
    RunConfig config = RunConfig.fromOverrides(List.of("trainer=linear-sgd", "stub.samples=" + SAMPLES,
        "epochs=" + EPOCHS, "seed=11", "optimizer.lr=0.05", "stub.step-time=0", "shards=" + shards,
        "batch-size=" + SAMPLES / shards, "sync.mode=" + syncMode, "sync.every=1", "sync.timeout=20s"), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    RunSummary summary = cluster.follow(runId, p -> {}).get(120, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
  }

  private List<float[]> finalParams(String runId) throws Exception {
    List<float[]> params = new ArrayList<>();
    try (Stream<Path> files = Files.walk(runsDir.resolve(runId).resolve("checkpoints"))) {
      for (Path file : files.filter(f -> f.getFileName().toString().equals(LinearSgdTrainer.PARAMS_FILE)).sorted().toList()) {
        params.add(LinearSgdTrainer.readParams(file));
      }
    }
    return params;
  }

  private static float maxDifference(float[] a, float[] b) {
    assertEquals(a.length, b.length);
    float max = 0;
    for (int i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    return max;
  }

  @Test
  void nWorkersOnTheRingWithBatchBMatchOneWorkerWithBatchNTimesB() throws Exception {
    cluster = LocalCluster.start(4, runsDir, ConfigFactory.parseResources("application-test.conf"));
    train("one", 1, "none");
    float[] reference = finalParams("one").get(0);

    for (String mode : new String[] {"allreduce", "average"}) {
      for (int workers : new int[] {2, 4}) {
        String runId = mode + "-" + workers;
        train(runId, workers, mode);
        List<float[]> shards = finalParams(runId);
        assertEquals(workers, shards.size());
        for (float[] shard : shards) {
          assertTrue(maxDifference(reference, shard) < 1e-5f, mode + ", " + workers + " workers, batch "
              + SAMPLES / workers + ": " + Arrays.toString(shard) + " vs 1 worker, batch " + SAMPLES + ": "
              + Arrays.toString(reference));
          // One ring, so one model: every shard ends with the same bits.
          assertTrue(Arrays.equals(shards.get(0), shard), mode + ": shards differ");
        }
        RunFiles files = new RunFiles(runsDir.resolve(runId));
        assertTrue(files.events("sync_round").isEmpty(), "nothing averaged through the coordinator");
        List<JsonNode> rings = files.events("ring_formed");
        assertEquals("formed", rings.get(0).get("why").asText(), rings.toString());
        assertEquals(workers, rings.get(0).get("shards").size(), "a gang start: every shard on the first ring");
      }
    }
  }
}
