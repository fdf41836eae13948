package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import io.quarry.protocol.RunSummary;
import io.quarry.worker.trainer.LabellingTestTrainer;
import io.quarry.worker.trainer.Payload;
import io.quarry.worker.trainer.TrainerRegistry;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hard examples end to end in local mode: labels and predictions in {@code hard_examples.jsonl}, and payloads
 * (thumbnails, leading features) under {@code hard_examples/} for the merged samples only. The labelling test
 * trainer stands in for {@code trainer = stub}: it trains like the stub and adds labels and a renderer.
 */
@Timeout(120)
class HardExamplePayloadsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path runsDir;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private RunSummary run(String runId, String... overrides) throws Exception {
    RunConfig config = RunConfig.fromOverrides(List.of(overrides), Map.of());
    SubmitReply reply = cluster.submit(new RunSpec(runId, config.toHocon())).toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, () -> "rejected: " + reply);
    return cluster.follow(runId, p -> {}).get(90, TimeUnit.SECONDS);
  }

  @Test
  void mergedHardExamplesCarryLabelsAndOnlyTheyGetPayloadsEvenInFastMode() throws Exception {
    LabellingTestTrainer.Factory trainers = new LabellingTestTrainer.Factory("stub");
    cluster = LocalCluster.start(2, runsDir, ConfigFactory.parseResources("application-test.conf"),
        TrainerRegistry.load().with(trainers));

    RunSummary summary = run("labelled", "telemetry.enabled=false", "stub.samples=2000", "stub.step-time=4ms",
        "epochs=2", "batch-size=20", "hard-examples.k=8", "hard-examples.merge-interval=100ms");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    RunFiles files = new RunFiles(runsDir.resolve("labelled"));
    List<JsonNode> merges = files.merges();
    assertTrue(merges.size() >= 3, "merges while training and a final one: " + merges.size());
    Set<Long> merged = new TreeSet<>();
    for (JsonNode merge : merges) {
      for (JsonNode entry : merge.get("entries")) {
        long id = entry.get("sample_id").asLong();
        merged.add(id);
        assertEquals(LabellingTestTrainer.label(id), entry.get("label").asInt(), entry.toString());
        assertEquals(LabellingTestTrainer.predicted(id), entry.get("predicted").asInt(), entry.toString());
      }
    }
    assertTrue(merged.size() < 2000 / 4, "most samples were offered but never merged: " + merged.size());
    for (HardExample hardest : summary.hardest()) {
      assertEquals(LabellingTestTrainer.label(hardest.sampleId()), hardest.label());
      assertEquals(LabellingTestTrainer.predicted(hardest.sampleId()), hardest.predicted());
    }

    assertEquals(merged, new TreeSet<>(trainers.rendered()), "rendered: exactly the merged samples");
    Path payloadDir = files.dir.resolve("hard_examples");
    List<JsonNode> index = jsonLines(payloadDir.resolve("payloads.jsonl"));
    Set<Long> indexed = index.stream().map(n -> n.get("sample_id").asLong()).collect(Collectors.toCollection(TreeSet::new));
    assertEquals(index.size(), indexed.size(), "one line per sample");
    assertEquals(merged, indexed, "a payload for every merged sample, none for the others");
    Set<String> pngFiles;
    try (var listing = Files.list(payloadDir)) {
      pngFiles = listing.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".png")).collect(Collectors.toSet());
    }
    Set<String> expectedPngs = new HashSet<>();
    for (JsonNode line : index) {
      long id = line.get("sample_id").asLong();
      assertEquals(LabellingTestTrainer.label(id), line.get("label").asInt(), line.toString());
      assertEquals(LabellingTestTrainer.predicted(id), line.get("predicted").asInt(), line.toString());
      if (id % 2 == 0) {
        assertEquals("image/png", line.get("media_type").asText());
        String file = line.get("file").asText();
        assertEquals(id + ".png", file);
        expectedPngs.add(file);
        BufferedImage image = ImageIO.read(payloadDir.resolve(file).toFile());
        assertNotNull(image, file + " decodes");
        assertEquals(64, image.getWidth(), "100 x 40 scaled to fit 64 x 64");
        assertEquals(26, image.getHeight());
      } else {
        assertEquals("application/vnd.quarry.features+json", line.get("media_type").asText());
        JsonNode features = line.get("features");
        assertEquals(Payload.MAX_FEATURES, features.size(), "the leading features");
        for (int i = 0; i < features.size(); i++) {
          assertEquals(LabellingTestTrainer.feature(id, i), features.get(i).floatValue(), line.toString());
        }
        assertFalse(line.has("file"));
      }
    }
    assertEquals(expectedPngs, pngFiles, "image files only for merged even samples");

    JsonNode completed = files.runCompleted();
    assertEquals(merged.size(), completed.get("payloads").asInt());
    assertEquals(0, completed.get("payloads_dropped").asInt());
    assertTrue(files.events("hard_examples").isEmpty(), "fast mode: no per-merge events, payloads all the same");
  }

  @Test
  void stubEntriesHaveUnknownLabelsAndNoPayloads() throws Exception {
    cluster = LocalCluster.start(2, runsDir, ConfigFactory.parseResources("application-test.conf"));

    RunSummary summary = run("stubbed", "stub.samples=400", "stub.step-time=0", "epochs=1", "batch-size=20",
        "hard-examples.k=8");

    assertEquals(RunState.COMPLETED, summary.status(), summary::reason);
    RunFiles files = new RunFiles(runsDir.resolve("stubbed"));
    List<JsonNode> merges = files.merges();
    assertFalse(merges.isEmpty());
    for (JsonNode merge : merges) {
      for (JsonNode entry : merge.get("entries")) {
        assertTrue(entry.has("label") && entry.get("label").isNull(), entry.toString());
        assertTrue(entry.has("predicted") && entry.get("predicted").isNull(), entry.toString());
      }
    }
    assertTrue(summary.hardest().stream().noneMatch(e -> e.hasLabel() || e.hasPrediction()));
    assertFalse(Files.exists(files.dir.resolve("hard_examples")), "no renderer, no payload directory");
    assertEquals(0, files.runCompleted().get("payloads").asInt());
  }

  private static List<JsonNode> jsonLines(Path file) throws Exception {
    List<JsonNode> nodes = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(file)) nodes.add(JSON.readTree(line));
    return nodes;
  }
}
