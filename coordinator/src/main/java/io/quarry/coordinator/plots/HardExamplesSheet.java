package io.quarry.coordinator.plots;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * A contact sheet of the hardest examples of a run's last merge that had entries ({@code hard_examples.jsonl}):
 * per entry a tile with its thumbnail ({@code hard_examples/<sample_id>.png}, enlarged without smoothing) or, for
 * tabular data, its leading features as bars, and under it the sample id, the loss and {@code label → predicted}
 * ({@code ?} where the trainer does not say). At most {@value #COLUMNS}×{@value #ROWS} entries, highest loss first.
 */
final class HardExamplesSheet {
  static final int COLUMNS = 8;
  static final int ROWS = 5;
  static final int TILE_WIDTH = 125;
  static final int TILE_HEIGHT = 170;
  static final int HEADER = 60;
  static final int WIDTH = COLUMNS * TILE_WIDTH;
  static final int HEIGHT = HEADER + ROWS * TILE_HEIGHT;
  private static final int PICTURE = 100;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One merged entry, with its payload when the run has one. */
  private record Entry(long sampleId, double loss, String label, String predicted, BufferedImage thumbnail,
      float[] features) {}

  private HardExamplesSheet() {}

  /** The sheet of {@code runDir}'s last merge with entries (a sheet that says so when there is none). */
  static BufferedImage draw(Path runDir, String title) throws IOException {
    JsonNode merge = lastMergeWithEntries(runDir.resolve("hard_examples.jsonl"));
    Map<Long, JsonNode> payloads = payloads(runDir.resolve("hard_examples").resolve("payloads.jsonl"));
    List<Entry> entries = new ArrayList<>();
    if (merge != null) {
      for (JsonNode node : merge.path("entries")) {
        if (entries.size() == COLUMNS * ROWS) break;
        long id = node.path("sample_id").asLong();
        JsonNode payload = payloads.get(id);
        BufferedImage thumbnail = null;
        float[] features = null;
        if (payload != null && payload.hasNonNull("file")) {
          Path png = runDir.resolve("hard_examples").resolve(payload.get("file").asText()).normalize();
          if (png.startsWith(runDir.resolve("hard_examples")) && Files.isRegularFile(png)) thumbnail = ImageIO.read(png.toFile());
        } else if (payload != null && payload.path("features").isArray()) {
          JsonNode values = payload.get("features");
          features = new float[values.size()];
          for (int i = 0; i < features.length; i++) features[i] = values.get(i).isNumber() ? (float) values.get(i).asDouble() : Float.NaN;
        }
        entries.add(new Entry(id, node.path("loss").asDouble(), classOf(node.path("label"), payload, "label"),
            classOf(node.path("predicted"), payload, "predicted"), thumbnail, features));
      }
    }
    BufferedImage sheet = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = sheet.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, WIDTH, HEIGHT);
      g.setColor(Color.BLACK);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
      g.drawString(title, 12, 26);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
      g.drawString(merge == null ? "no merge with entries"
          : "merge " + merge.path("merge").asInt() + " (" + merge.path("mode").asText() + "), " + merge.path("entries").size()
              + " entries, threshold " + format(merge.path("threshold").asDouble()) + "; highest loss first", 12, 48);
      for (int i = 0; i < entries.size(); i++) tile(g, entries.get(i), (i % COLUMNS) * TILE_WIDTH, HEADER + (i / COLUMNS) * TILE_HEIGHT);
    } finally {
      g.dispose();
    }
    return sheet;
  }

  private static void tile(Graphics2D g, Entry entry, int x, int y) {
    int left = x + (TILE_WIDTH - PICTURE) / 2;
    int top = y + 6;
    g.setColor(new Color(0xEEEEEE));
    g.fillRect(left, top, PICTURE, PICTURE);
    if (entry.thumbnail() != null) {
      g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_NEAREST_NEIGHBOR);
      g.drawImage(entry.thumbnail(), left, top, PICTURE, PICTURE, null);
    } else if (entry.features() != null && entry.features().length > 0) {
      bars(g, entry.features(), left, top);
    } else {
      g.setColor(Color.GRAY);
      g.drawString("no payload", left + 18, top + PICTURE / 2);
    }
    g.setColor(new Color(0xCCCCCC));
    g.drawRect(left, top, PICTURE, PICTURE);
    g.setColor(Color.BLACK);
    g.drawString("#" + entry.sampleId(), x + 8, top + PICTURE + 18);
    g.drawString("loss " + format(entry.loss()), x + 8, top + PICTURE + 34);
    boolean wrong = !entry.label().equals("?") && !entry.label().equals(entry.predicted());
    g.setColor(wrong ? new Color(0xC62828) : Color.BLACK);
    g.drawString(entry.label() + " \u2192 " + entry.predicted(), x + 8, top + PICTURE + 50);
  }

  /** The leading features as bars around a zero line, scaled to the largest magnitude. */
  private static void bars(Graphics2D g, float[] features, int left, int top) {
    double max = 1e-9;
    for (float f : features) if (Float.isFinite(f)) max = Math.max(max, Math.abs(f));
    int count = Math.min(features.length, PICTURE);
    double width = (double) PICTURE / count;
    int zero = top + PICTURE / 2;
    g.setColor(new Color(0x1565C0));
    for (int i = 0; i < count; i++) {
      if (!Float.isFinite(features[i])) continue;
      int height = (int) Math.round(Math.abs(features[i]) / max * (PICTURE / 2 - 2));
      int bx = left + (int) Math.floor(i * width);
      int bw = Math.max(1, (int) Math.floor(width) - 1);
      g.fillRect(bx, features[i] >= 0 ? zero - height : zero, bw, Math.max(1, height));
    }
  }

  private static String classOf(JsonNode fromMerge, JsonNode payload, String field) {
    if (fromMerge.isIntegralNumber()) return Integer.toString(fromMerge.asInt());
    if (payload != null && payload.path(field).isIntegralNumber() && payload.get(field).asInt() >= 0) {
      return Integer.toString(payload.get(field).asInt());
    }
    return "?";
  }

  private static String format(double value) {
    return String.format(Locale.ROOT, "%.3f", value);
  }

  private static JsonNode lastMergeWithEntries(Path file) throws IOException {
    if (!Files.isRegularFile(file)) return null;
    JsonNode last = null;
    try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        if (line.isBlank()) continue;
        try {
          JsonNode merge = JSON.readTree(line);
          if (merge.path("entries").size() > 0) last = merge;
        } catch (IOException e) {
          // A line cut short: skipped.
        }
      }
    }
    return last;
  }

  private static Map<Long, JsonNode> payloads(Path index) throws IOException {
    Map<Long, JsonNode> payloads = new HashMap<>();
    if (!Files.isRegularFile(index)) return payloads;
    try (BufferedReader reader = Files.newBufferedReader(index, StandardCharsets.UTF_8)) {
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        if (line.isBlank()) continue;
        try {
          JsonNode payload = JSON.readTree(line);
          payloads.put(payload.path("sample_id").asLong(), payload);
        } catch (IOException e) {
          // A line cut short: skipped.
        }
      }
    }
    return payloads;
  }
}
