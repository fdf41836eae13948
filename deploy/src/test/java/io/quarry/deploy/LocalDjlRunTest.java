package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.protocol.config.RunConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A local run of the DJL trainer ({@code trainer = djl}) on the 1,797 8×8 digits in shared/data (never copied). */
@Timeout(120)
class LocalDjlRunTest {
  /** The test runs in deploy/; the data lies in the repository's parent, shared/data/digits. */
  private static final Path DIGITS = Path.of("../../shared/data/digits/digits.csv.gz").toAbsolutePath().normalize();

  @TempDir Path tmp;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  @Test
  void oneWorkerLearnsTheDigits() throws Exception {
    assertTrue(Files.isRegularFile(DIGITS), "missing " + DIGITS);
    cluster = LocalCluster.start(1, tmp.resolve("runs"), ConfigFactory.parseResources("application-test.conf"));
    RunConfig config = RunConfig.fromOverrides(List.of("trainer=djl", "model.type=mlp", "dataset.format=csv",
        "dataset.path=\"" + DIGITS + "\"", "shards=1", "epochs=15", "batch-size=32", "optimizer.lr=0.005",
        "model.hidden=[64]", "seed=1"), Map.of());
    assertEquals(1797 - 359, config.datasetSamples());
    long start = System.nanoTime();
    SubmitReply reply = cluster.submit(new RunSpec("digits", config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    RunSummary summary = cluster.follow("digits", p -> {}).get(60, TimeUnit.SECONDS);
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);

    // scalars.csv: step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns
    List<String> vals = new RunFiles(tmp.resolve("runs/digits")).scalars().stream().filter(r -> r.contains(",val,")).toList();
    assertEquals(15, vals.size(), vals.toString());
    String[] last = vals.get(vals.size() - 1).split(",");
    double accuracy = Double.parseDouble(last[8]);
    System.out.printf("digits: val accuracy %.4f, val loss %s after %d epochs in %.1f s%n", accuracy, last[5], vals.size(), seconds);
    assertTrue(accuracy >= 0.95, "val accuracy " + accuracy + ": " + vals);
    assertFalse(summary.hardest().isEmpty());
  }

  @Test
  void aMissingCsvFileIsRejectedAtSubmit() throws Exception {
    cluster = LocalCluster.start(1, tmp.resolve("runs"), ConfigFactory.parseResources("application-test.conf"));
    Path missing = tmp.resolve("no-such.csv");
    RunConfig config = RunConfig.fromOverrides(
        List.of("trainer=djl", "model.type=mlp", "dataset.format=csv", "dataset.path=\"" + missing + "\""), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec("nodata", config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Rejected r && r.error().contains(missing.toString()), reply::toString);
  }
}
