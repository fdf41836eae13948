package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code quarry submit --multirun} against a coordinator's HTTP API (local mode behind it). */
@Timeout(180)
class SweepSubmitTest extends CliCapture {
  @TempDir Path tmp;
  private LocalCluster cluster;
  private ServerBinding binding;
  private static final String TOKEN = "sweep-submit-test-token-0123456789";
  private String base;

  @BeforeEach
  void start() throws Exception {
    cluster = LocalCluster.start(2, tmp.resolve("runs"), ConfigFactory.parseResources("application-test.conf"));
    ApiTokens tokens = ApiTokens.fromFile(java.nio.file.Files.writeString(tmp.resolve("tokens"), "operate " + TOKEN + "\n"));
    binding = HttpApi.bind(cluster.system(), cluster.coordinator(), tokens, "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    base = "http://127.0.0.1:" + binding.localAddress().getPort();
  }

  @AfterEach
  void stop() throws Exception {
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (cluster != null) cluster.close();
  }

  @Test
  void aSweepSubmittedOverHttpRunsEveryCombinationAndWritesTheSummary() throws Exception {
    Files.writeString(tmp.resolve("run.conf"), "stub.samples = 200\nstub.step-time = 0\n");
    int exit = QuarryCli.run("submit", "--coordinator", base, "--token", TOKEN, "--multirun", "--wait", "--run-id", "hs", "--sort",
        "final_loss", tmp.resolve("run.conf").toString(), "epochs=1,2", "seed=1,2");

    assertEquals(0, exit, stderr());
    List<String> csv = Files.readAllLines(tmp.resolve("sweeps/hs/summary.csv"));
    assertEquals("run_id,epochs,seed,status,final_loss,val_accuracy,wall_s,steps", csv.get(0));
    assertEquals(5, csv.size());
    assertTrue(csv.get(4).startsWith("hs-3,2,2,completed,"), csv.get(4));
    assertTrue(stdout().contains("sweep hs: 4 of 4 run(s) completed"), stdout());
  }

  @Test
  void aBadValueInASubmittedSweepSubmitsNothing() throws Exception {
    Files.writeString(tmp.resolve("run.conf"), "stub.samples = 200\n");
    int exit = QuarryCli.run("submit", "--coordinator", base, "--token", TOKEN, "--multirun", "--run-id", "hb",
        tmp.resolve("run.conf").toString(), "epochs=1,-1");

    assertEquals(2, exit);
    assertTrue(stderr().contains("config key 'epochs': invalid value -1"), stderr());
    assertFalse(Files.exists(tmp.resolve("runs/hb-0")));
  }
}
