package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A local run of the DJL trainer ({@code trainer = djl}) on the 1,797 8×8 digits in the repository's data/digits. */
@Timeout(120)
class LocalDjlRunTest {
  /** The test runs in deploy/; the data lies in the repository's data/digits (see its README for provenance). */
  private static final Path DIGITS = Path.of("../data/digits/digits.csv.gz").toAbsolutePath().normalize();

  @TempDir Path tmp;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  /** The test settings, with this test's temporary directory and the repository's data/ as data roots. */
  private com.typesafe.config.Config withDataRoots() {
    return ConfigFactory.parseString("quarry.worker.data-roots = [\"" + tmp + "\", \"" + DIGITS.getParent() + "\"]")
        .withFallback(ConfigFactory.parseResources("application-test.conf"));
  }

  @Test
  void aDatasetOutsideTheDataRootsIsRefusedAtSubmitNamingTheKeyThePathAndTheRoots() throws Exception {
    cluster = LocalCluster.start(1, tmp.resolve("runs"), ConfigFactory.parseResources("application-test.conf"));
    RunConfig config = RunConfig.fromOverrides(
        List.of("trainer=djl", "model.type=mlp", "dataset.format=csv", "dataset.path=\"" + DIGITS + "\""), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec("outside", config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Rejected r && r.error().contains("'dataset.path'")
        && r.error().contains(DIGITS.toString()) && r.error().contains("outside this worker's data roots")
        && r.error().contains(tmp.resolve("runs").toString()), reply::toString);
    assertFalse(Files.exists(tmp.resolve("runs/outside")), "nothing of the run was created");
  }

  @Test
  void aGoodRunPrintsItsProgressAndSummaryAndNothingElse() throws Exception {
    // `quarry local` in a JVM of its own, logging as the jar does (not as the tests do), so that whatever libtorch
    // writes to the terminal natively is seen too.
    Path productionLogging = Path.of("src/main/resources/logback.xml").toAbsolutePath();
    try (NodeProcesses nodes = new NodeProcesses(tmp.resolve("logs"))
        .withJvmOptions("-Dlogback.configurationFile=" + productionLogging)) {
      Process local = nodes.start("local", Map.of("QUARRY_LOG_LEVEL", "WARN"), "local", "--workers", "2",
          "--runs-dir", tmp.resolve("runs").toString(), "--data-root", DIGITS.getParent().toString(), "--run-id",
          "quiet", "trainer=djl", "model.type=mlp",
          "dataset.format=csv", "dataset.path=\"" + DIGITS + "\"", "epochs=1");
      assertTrue(local.waitFor(90, TimeUnit.SECONDS), "quarry local did not end");
      assertEquals(0, local.exitValue(), nodes.logText("local"));
      List<String> lines = nodes.logText("local").lines().filter(line -> !line.isBlank()).toList();
      List<String> summary = List.of("run quiet completed: ", "validation: accuracy ", "hardest examples (last merge):",
          "run directory: ");
      for (String line : lines) {
        boolean progress = line.matches("\\[\\s*\\d+%\\] .*");
        boolean table = line.matches("\\s+#\\s+sample_id.*") || line.matches("\\s+\\d+\\s+\\d+\\s+.*");
        assertTrue(progress || table || summary.stream().anyMatch(line::startsWith),
            "a line that is neither progress nor summary: " + line + "\n" + String.join("\n", lines));
      }
      for (String expected : summary) assertTrue(lines.stream().anyMatch(l -> l.startsWith(expected)), expected);
    }
  }

  @Test
  void oneWorkerLearnsTheDigits() throws Exception {
    assertTrue(Files.isRegularFile(DIGITS), "missing " + DIGITS);
    cluster = LocalCluster.start(1, tmp.resolve("runs"), withDataRoots());
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
    assertEquals(accuracy, summary.valAccuracy(), 1e-6, "the summary carries the last evaluation");
    com.fasterxml.jackson.databind.JsonNode metrics = new RunFiles(tmp.resolve("runs/digits")).runCompleted().get("metrics");
    assertEquals(accuracy, metrics.get("val_accuracy").asDouble(), 1e-6, metrics.toString());
    assertEquals(Double.parseDouble(last[5]), metrics.get("val_loss").asDouble(), 1e-5, metrics.toString());
  }

  /**
   * Label noise: 5% of the training samples (seeded) get a wrong label, in a copy of the digits in a temp directory.
   * The mislabelled samples are the ones a trained model cannot fit, so they should fill the final merged buffer.
   */
  @Test
  void mislabelledSamplesFillTheMergedHardExamples() throws Exception {
    assertTrue(Files.isRegularFile(DIGITS), "missing " + DIGITS);
    List<String> rows = new java.util.ArrayList<>();
    try (var reader = io.quarry.djl.CsvRows.open(DIGITS)) {
      for (String line = reader.readLine(); line != null; line = reader.readLine()) if (!line.isBlank()) rows.add(line);
    }
    boolean header = io.quarry.djl.CsvRows.isHeader(rows.get(0));
    List<String> data = new java.util.ArrayList<>(header ? rows.subList(1, rows.size()) : rows);
    long seed = 3;
    double valFraction = 0.2;
    io.quarry.djl.Split split = io.quarry.djl.Split.of(data.size(), valFraction, seed);
    java.util.SplittableRandom random = new java.util.SplittableRandom(99);
    java.util.Set<Long> flipped = new java.util.TreeSet<>();
    int toFlip = (int) Math.round(split.train().length * 0.05);
    while (flipped.size() < toFlip) {
      long sampleId = random.nextInt(split.train().length); // a training sample id is its index in the training split
      if (!flipped.add(sampleId)) continue;
      int row = split.train()[(int) sampleId];
      String line = data.get(row);
      int comma = line.lastIndexOf(',');
      int label = (int) Double.parseDouble(line.substring(comma + 1).trim());
      int wrong = (label + 1 + random.nextInt(9)) % 10;
      data.set(row, line.substring(0, comma + 1) + wrong);
    }
    Path noisy = tmp.resolve("digits-noisy.csv");
    Files.write(noisy, data);

    cluster = LocalCluster.start(1, tmp.resolve("runs"), withDataRoots());
    RunConfig config = RunConfig.fromOverrides(List.of("trainer=djl", "model.type=mlp", "dataset.format=csv",
        "dataset.path=\"" + noisy + "\"", "shards=1", "epochs=15", "batch-size=32", "optimizer.lr=0.005",
        "model.hidden=[64]", "seed=" + seed, "dataset.val-fraction=" + valFraction, "hard-examples.k=50",
        "hard-examples.window=run", "hard-examples.merge-mode=top-k"), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec("noisy", config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    RunSummary summary = cluster.follow("noisy", p -> {}).get(90, TimeUnit.SECONDS);
    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);

    List<com.fasterxml.jackson.databind.JsonNode> merges = new RunFiles(tmp.resolve("runs/noisy")).merges();
    com.fasterxml.jackson.databind.JsonNode last = merges.get(merges.size() - 1);
    assertEquals(50, last.get("entries").size(), last.toString());
    int hits = 0;
    for (com.fasterxml.jackson.databind.JsonNode entry : last.get("entries")) {
      if (flipped.contains(entry.get("sample_id").asLong())) hits++;
    }
    double precision = hits / 50.0;
    System.out.printf("label noise: %d of %d training samples flipped; %d of the 50 merged hard examples are flipped "
        + "(precision %.2f, recall %.2f)%n", toFlip, split.train().length, hits, precision, hits / (double) toFlip);
    assertTrue(precision >= 0.7, "precision " + precision + " of the final merge: " + last.get("entries"));
  }

  @Test
  void aMissingCsvFileIsRejectedAtSubmit() throws Exception {
    cluster = LocalCluster.start(1, tmp.resolve("runs"), withDataRoots());
    Path missing = tmp.resolve("no-such.csv");
    RunConfig config = RunConfig.fromOverrides(
        List.of("trainer=djl", "model.type=mlp", "dataset.format=csv", "dataset.path=\"" + missing + "\""), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec("nodata", config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Rejected r && r.error().contains(missing.toString()), reply::toString);
  }

  /** The final checkpoint of every shard attempt that trained to the end, in path order. */
  private java.util.List<float[]> finalParameters(RunConfig config, String runId) throws Exception {
    java.util.List<float[]> params = new java.util.ArrayList<>();
    try (var dirs = Files.list(tmp.resolve("runs").resolve(runId).resolve("checkpoints"))) {
      for (Path shard : dirs.sorted().toList()) {
        try (var attempts = Files.list(shard)) {
          for (Path attempt : attempts.sorted().toList()) {
            Path last = attempt.resolve(Files.readString(attempt.resolve("last")).trim());
            params.add(io.quarry.djl.DjlTrainer.savedParameters(config, last));
          }
        }
      }
    }
    return params;
  }

  /**
   * Parameter averaging with the DJL trainer: plain SGD, averaging every step, one step per epoch (each shard's whole
   * slice is its batch), so N workers with batch B and one worker with batch N×B take the same steps.
   */
  @Test
  void nDjlWorkersAveragingEveryStepMatchOneWorkerWithTheirWholeBatch() throws Exception {
    cluster = LocalCluster.start(4, tmp.resolve("runs"), withDataRoots());
    List<String> common = List.of("trainer=djl", "dataset.synthetic=blobs", "model.type=mlp", "model.hidden=[16]",
        "dataset.samples=128", "dataset.val-fraction=0", "optimizer.type=sgd", "optimizer.lr=0.2", "epochs=10",
        "seed=4", "sync.every=1");
    java.util.function.BiFunction<String, List<String>, RunConfig> run = (runId, extra) -> {
      try {
        RunConfig config = RunConfig.fromOverrides(RunArgs.concat(common, extra), Map.of());
        SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
        RunSummary summary = cluster.follow(runId, p -> {}).get(90, TimeUnit.SECONDS);
        assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
        return config;
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    };
    RunConfig one = run.apply("one", List.of("shards=1", "batch-size=128"));
    float[] reference = finalParameters(one, "one").get(0);
    // average: parameters averaged on the ring after every step; allreduce: gradients averaged before every step;
    // average through the coordinator: the fallback transport.
    for (List<String> mode : List.of(List.of("sync.mode=average"), List.of("sync.mode=allreduce"),
        List.of("sync.mode=average", "sync.transport=coordinator"))) {
      for (int workers : new int[] {2, 4}) {
        String runId = String.join("-", mode).replaceAll("[^a-z0-9-]", "") + "-" + workers;
        RunConfig config = run.apply(runId, RunArgs.concat(List.of("shards=" + workers, "batch-size=" + 128 / workers),
            mode));
        java.util.List<float[]> shards = finalParameters(config, runId);
        assertEquals(workers, shards.size());
        for (float[] shard : shards) {
          float max = 0;
          for (int i = 0; i < reference.length; i++) max = Math.max(max, Math.abs(reference[i] - shard[i]));
          System.out.printf("djl %s: %d workers vs 1, max |difference| %.3g over %d parameters%n", mode, workers, max,
              reference.length);
          assertTrue(max < 1e-5f, mode + ": " + workers + " workers differ from 1 worker by " + max);
        }
      }
    }
    RunConfig apart = run.apply("apart", List.of("shards=4", "batch-size=32", "sync.mode=none"));
    float furthest = 0;
    for (float[] shard : finalParameters(apart, "apart")) {
      for (int i = 0; i < reference.length; i++) furthest = Math.max(furthest, Math.abs(reference[i] - shard[i]));
    }
    assertTrue(furthest > 1e-3f, "without averaging the shards' models drift apart: " + furthest);
  }
}
