package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HardExamplePayloadFilesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HardExamplePayloadFiles.Limits LIMITS = new HardExamplePayloadFiles.Limits(64 * 1024, 100);

  @TempDir Path runDir;

  private static byte[] png(int width, int height) throws IOException {
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
    for (int x = 0; x < width; x++) image.getRaster().setSample(x, 0, 0, x & 0xFF);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(image, "png", out);
    return out.toByteArray();
  }

  private List<JsonNode> index() throws IOException {
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(runDir.resolve("hard_examples/payloads.jsonl"))) lines.add(JSON.readTree(line));
    return lines;
  }

  @Test
  void writesEachImageAsAFileAndEachSampleOnceInTheIndex() throws IOException {
    byte[] png = png(32, 16);
    try (HardExamplePayloadFiles files = HardExamplePayloadFiles.open(runDir, LIMITS)) {
      assertFalse(Files.exists(files.dir()), "no directory before the first payload");

      assertInstanceOf(HardExamplePayloadFiles.Outcome.Written.class,
          files.write(new HardExamplePayload.Png(12, 3, 5, png), "w1", 0));
      assertInstanceOf(HardExamplePayloadFiles.Outcome.Written.class,
          files.write(new HardExamplePayload.Features(13, HardExample.UNKNOWN, 2, new float[] {0.5f, Float.NaN}), "w2", 1));
      assertInstanceOf(HardExamplePayloadFiles.Outcome.Duplicate.class,
          files.write(new HardExamplePayload.Png(12, 3, 5, png(8, 8)), "w2", 1));

      assertEquals(2, files.written());
      assertEquals(0, files.dropped());
    }
    byte[] onDisk = Files.readAllBytes(runDir.resolve("hard_examples/12.png"));
    assertTrue(Arrays.equals(png, onDisk), "the first payload of a sample wins");
    assertEquals(32, ImageIO.read(new ByteArrayInputStream(onDisk)).getWidth());
    List<JsonNode> index = index();
    assertEquals(2, index.size());
    JsonNode image = index.get(0);
    assertEquals(12, image.get("sample_id").asLong());
    assertEquals(3, image.get("label").asInt());
    assertEquals(5, image.get("predicted").asInt());
    assertEquals("image/png", image.get("media_type").asText());
    assertEquals("12.png", image.get("file").asText());
    assertEquals("w1", image.get("worker_id").asText());
    assertFalse(image.has("features"));
    JsonNode features = index.get(1);
    assertTrue(features.get("label").isNull(), "unknown is null");
    assertEquals(2, features.get("predicted").asInt());
    assertEquals(HardExamplePayload.FEATURES_MEDIA_TYPE, features.get("media_type").asText());
    assertEquals(0.5, features.get("features").get(0).asDouble());
    assertTrue(features.get("features").get(1).isNull(), "NaN is not JSON");
    assertFalse(features.has("file"));
    try (var listing = Files.list(runDir.resolve("hard_examples"))) {
      assertEquals(List.of("12.png", "payloads.jsonl"), listing.map(p -> p.getFileName().toString()).sorted().toList(),
          "no partial files left behind");
    }
  }

  @Test
  void dropsCorruptOversizedAndSurplusPayloadsWithAReason() throws IOException {
    byte[] good = png(8, 8);
    byte[] truncated = Arrays.copyOf(good, good.length - 20);
    byte[] garbageAfterHeader = Arrays.copyOf(good, good.length);
    for (int i = 40; i < garbageAfterHeader.length; i++) garbageAfterHeader[i] = (byte) (i * 31);
    HardExamplePayloadFiles.Limits limits = new HardExamplePayloadFiles.Limits(2000, 2);
    try (HardExamplePayloadFiles files = HardExamplePayloadFiles.open(runDir, limits)) {
      List<String> reasons = new ArrayList<>();
      for (HardExamplePayload payload : List.of(
          new HardExamplePayload.Png(1, 0, 0, "not a png at all, just some text here".getBytes(StandardCharsets.UTF_8)),
          new HardExamplePayload.Png(2, 0, 0, png(65, 10)),
          new HardExamplePayload.Png(3, 0, 0, truncated),
          new HardExamplePayload.Png(4, 0, 0, garbageAfterHeader),
          new HardExamplePayload.Png(5, 0, 0, new byte[2001]),
          new HardExamplePayload.Features(6, 0, 0, new float[65]),
          new HardExamplePayload.Features(7, 0, 0, new float[0]),
          new HardExamplePayload.Png(-1, 0, 0, good))) {
        HardExamplePayloadFiles.Outcome outcome = files.write(payload, "w", 0);
        reasons.add(((HardExamplePayloadFiles.Outcome.Dropped) outcome).reason());
      }
      assertTrue(reasons.get(0).contains("not a PNG"), reasons.get(0));
      assertTrue(reasons.get(1).contains("65x10"), reasons.get(1));
      assertTrue(reasons.get(2).contains("corrupt"), reasons.get(2));
      assertTrue(reasons.get(3).contains("corrupt") || reasons.get(3).contains("do not match"), reasons.get(3));
      assertTrue(reasons.get(4).contains("max-bytes"), reasons.get(4));
      assertTrue(reasons.get(5).contains("at most the leading 64"), reasons.get(5));
      assertEquals(8, files.dropped());
      assertEquals(0, files.written());

      files.write(new HardExamplePayload.Png(10, 0, 0, good), "w", 0);
      files.write(new HardExamplePayload.Png(11, 0, 0, good), "w", 0);
      HardExamplePayloadFiles.Outcome surplus = files.write(new HardExamplePayload.Png(12, 0, 0, good), "w", 0);
      assertTrue(((HardExamplePayloadFiles.Outcome.Dropped) surplus).reason().contains("max-per-run"));
      assertEquals(2, files.written());
    }
    try (var listing = Files.list(runDir.resolve("hard_examples"))) {
      assertEquals(List.of("10.png", "11.png", "payloads.jsonl"), listing.map(p -> p.getFileName().toString()).sorted().toList());
    }
  }

  @Test
  void aRecoveredRunKeepsTheSamplesWrittenBeforeAndDropsAHalfWrittenLine() throws IOException {
    byte[] png = png(4, 4);
    try (HardExamplePayloadFiles files = HardExamplePayloadFiles.open(runDir, LIMITS)) {
      files.write(new HardExamplePayload.Png(1, 0, 0, png), "w", 0);
    }
    Path index = runDir.resolve("hard_examples/payloads.jsonl");
    Files.writeString(index, "{\"sample_id\": 2, \"lab", java.nio.file.StandardOpenOption.APPEND);

    try (HardExamplePayloadFiles files = HardExamplePayloadFiles.open(runDir, LIMITS)) {
      assertEquals(1, files.written());
      assertInstanceOf(HardExamplePayloadFiles.Outcome.Duplicate.class,
          files.write(new HardExamplePayload.Png(1, 0, 0, png), "w", 1));
      files.write(new HardExamplePayload.Png(2, 0, 0, png), "w", 1);
    }
    assertEquals(List.of(1L, 2L), index().stream().map(n -> n.get("sample_id").asLong()).toList());
  }
}
