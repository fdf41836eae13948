package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.http.ApiTokens;
import io.quarry.coordinator.http.HttpApi;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code quarry submit --init-from RUN_ID[:best|last]}: a new run whose shards start from another run's parameters
 * (fine-tuning), on the repository's 8×8 digits with the DJL trainer.
 */
@Timeout(240)
class InitFromRunTest extends CliCapture {
  private static final Path DIGITS = Path.of("../data/digits/digits.csv.gz").toAbsolutePath().normalize();
  private static final String TOKEN = "init-from-test-token-0123456789abcdef";
  private static final List<String> RUN = List.of("trainer=djl", "model.type=mlp", "dataset.format=csv",
      "dataset.path=\"" + DIGITS + "\"", "shards=1", "batch-size=32", "model.hidden=[64]", "seed=1",
      "checkpoint.every-steps=15", "telemetry.enabled=false");

  @TempDir Path tmp;
  private LocalCluster cluster;
  private ServerBinding binding;

  @AfterEach
  void shutDown() throws Exception {
    if (binding != null) binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    if (cluster != null) cluster.close();
  }

  @Test
  void aRunStartsFromAnotherRunsBestParameters() throws Exception {
    cluster = LocalCluster.start(1, tmp.resolve("runs"), ConfigFactory.parseString(
        "quarry.worker.data-roots = [\"" + DIGITS.getParent() + "\"]").withFallback(
            ConfigFactory.parseResources("application-test.conf")));
    binding = HttpApi.bind(cluster.system(), cluster.coordinator(),
        ApiTokens.fromFile(Files.writeString(tmp.resolve("tokens"), "operate " + TOKEN + "\n")), "127.0.0.1", 0)
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    String url = "http://127.0.0.1:" + binding.localAddress().getPort();

    List<String> base = new ArrayList<>(RUN);
    base.addAll(List.of("epochs=4", "optimizer.lr=0.005"));
    SubmitReply reply = cluster.submit(new RunSpec("base", RunConfig.fromOverrides(base, Map.of()).toHocon()))
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply::toString);
    RunSummary trained = cluster.follow("base", p -> {}).get(120, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, trained.status(), trained.reason());
    assertTrue(trained.valAccuracy() >= 0.9, "the base run learned: " + trained.valAccuracy());

    // One epoch at a learning rate too small to learn anything from the seed's parameters: only a start from the
    // base run's parameters ends accurate.
    Path runFile = Files.writeString(tmp.resolve("tune.conf"), String.join("\n", RUN) + "\n");
    int exit = QuarryCli.run("submit", runFile.toString(), "epochs=1", "optimizer.lr=0.0000001", "--coordinator", url,
        "--token", TOKEN, "--run-id", "tuned", "--init-from", "base", "--wait", "--quiet");
    assertEquals(QuarryCli.EXIT_COMPLETED, exit, stdout() + stderr());
    double tuned = new RunFiles(tmp.resolve("runs/tuned")).runCompleted().get("metrics").get("val_accuracy").asDouble();
    System.out.printf("digits: base run val accuracy %.4f; one epoch at lr 1e-7 from its best checkpoint %.4f%n",
        trained.valAccuracy(), tuned);
    assertEquals(trained.valAccuracy(), tuned, 0.03, "the tuned run started from the base run's parameters");
    assertTrue(Files.readString(tmp.resolve("runs/tuned/run.conf")).contains("base:best"), "run.conf says so");
    List<String> scratch = new ArrayList<>(RUN);
    scratch.addAll(List.of("epochs=1", "optimizer.lr=0.0000001"));
    cluster.submit(new RunSpec("scratch", RunConfig.fromOverrides(scratch, Map.of()).toHocon()))
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    RunSummary fromSeed = cluster.follow("scratch", p -> {}).get(120, TimeUnit.SECONDS);
    assertTrue(fromSeed.valAccuracy() < 0.5, "from the seed the same epoch learns nothing: " + fromSeed.valAccuracy());

    exit = QuarryCli.run("submit", runFile.toString(), "--coordinator", url, "--token", TOKEN, "--run-id", "orphan",
        "--init-from", "nowhere:last");
    assertEquals(QuarryCli.EXIT_USAGE, exit);
    assertTrue(stderr().contains("config key 'init.from': no run 'nowhere' in the run store"), stderr());
    assertFalse(Files.exists(tmp.resolve("runs/orphan")), "nothing of the refused run was made");
  }
}
