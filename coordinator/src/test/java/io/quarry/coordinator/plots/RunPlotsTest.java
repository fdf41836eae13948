package io.quarry.coordinator.plots;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The charts of a run directory written by hand, as an old run's would be: no coordinator, no actor. */
class RunPlotsTest {
  @TempDir Path tmp;

  /** A run directory of two shards: 50 steps of training rows each, an evaluation every 10, one merge with payloads. */
  private Path runDir(String name, double lossScale) throws Exception {
    Path dir = Files.createDirectories(tmp.resolve(name));
    Files.writeString(dir.resolve("events.jsonl"), "{\"type\":\"run_submitted\"}\n");
    StringBuilder scalars = new StringBuilder("step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns\n");
    long t0 = 1_700_000_000_000_000_000L;
    for (int shard = 0; shard < 2; shard++) {
      for (int step = 0; step < 50; step++) {
        double loss = lossScale * (2.0 / (1 + step * 0.1) + shard * 0.1);
        scalars.append(String.format(Locale.ROOT, "%d,%d,w%d,%d,train,%f,%f,%f,,%d%n", step, step / 25, shard, shard,
            loss, 0.01 * (1 - step / 50.0), 3000.0 + 10 * step, t0 + step * 20_000_000L + shard));
        if (step % 10 == 9) {
          scalars.append(String.format(Locale.ROOT, "%d,%d,w%d,%d,val,%f,,,%f,%d%n", step + 1, step / 25, shard, shard,
              loss * 1.1, Math.min(0.99, 0.3 + step / 60.0), t0 + step * 20_000_000L + 5));
        }
      }
    }
    scalars.append("51,2,w0,0,tra"); // a line cut short by a dying coordinator
    Files.writeString(dir.resolve("scalars.csv"), scalars);
    Files.writeString(dir.resolve("hard_examples.jsonl"),
        "{\"merge\":0,\"mode\":\"round-robin\",\"k\":4,\"threshold\":2.5,\"entries\":[]}\n"
            + "{\"merge\":1,\"mode\":\"round-robin\",\"k\":4,\"threshold\":2.5,\"entries\":["
            + "{\"sample_id\":17,\"loss\":9.5,\"worker_id\":\"w0\",\"step\":40,\"label\":3,\"predicted\":8},"
            + "{\"sample_id\":42,\"loss\":7.25,\"worker_id\":\"w1\",\"step\":41,\"label\":null,\"predicted\":null},"
            + "{\"sample_id\":5,\"loss\":3.0,\"worker_id\":\"w1\",\"step\":41,\"label\":1,\"predicted\":1}]}\n");
    Path payloads = Files.createDirectories(dir.resolve("hard_examples"));
    BufferedImage red = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
    for (int x = 0; x < 8; x++) for (int y = 0; y < 8; y++) red.setRGB(x, y, Color.RED.getRGB());
    ImageIO.write(red, "png", payloads.resolve("17.png").toFile());
    Files.writeString(payloads.resolve("payloads.jsonl"),
        "{\"sample_id\":17,\"label\":3,\"predicted\":8,\"media_type\":\"image/png\",\"worker_id\":\"w0\",\"merge\":1,"
            + "\"file\":\"17.png\"}\n{\"sample_id\":42,\"label\":-1,\"predicted\":-1,\"media_type\":"
            + "\"application/vnd.quarry.features+json\",\"worker_id\":\"w1\",\"merge\":1,\"features\":[1.5,-2.0,null,0.25]}\n");
    return dir;
  }

  private static BufferedImage decoded(Path png, int width, int height) throws Exception {
    BufferedImage image = ImageIO.read(png.toFile());
    assertNotNull(image, png + " is not an image");
    assertEquals(width, image.getWidth(), png.toString());
    assertEquals(height, image.getHeight(), png.toString());
    int first = image.getRGB(0, 0);
    boolean varied = false;
    for (int x = 0; x < width && !varied; x += 3) for (int y = 0; y < height && !varied; y += 3) varied = image.getRGB(x, y) != first;
    assertTrue(varied, png + " is all one colour");
    return image;
  }

  @Test
  void everyChartIsAValidImageOfItsSizeThatIsNotAllOneColour() throws Exception {
    Path run = runDir("old-run", 1.0);
    List<Path> written = RunPlots.write(run);
    assertEquals(RunPlots.FILES.stream().map(f -> run.resolve("plots").resolve(f)).toList(), written);
    for (Path png : written) {
      if (png.endsWith(RunPlots.HARD_EXAMPLES)) continue;
      decoded(png, RunPlots.WIDTH, RunPlots.HEIGHT);
    }
    BufferedImage sheet = decoded(run.resolve("plots").resolve(RunPlots.HARD_EXAMPLES), RunPlots.SHEET_WIDTH,
        RunPlots.SHEET_HEIGHT);
    long red = 0;
    for (int x = 0; x < sheet.getWidth(); x++) for (int y = 0; y < sheet.getHeight(); y++) if (sheet.getRGB(x, y) == Color.RED.getRGB()) red++;
    assertTrue(red >= 90 * 90, "the hardest sample's thumbnail is drawn, enlarged: " + red + " red pixels");
    assertEquals(List.of(), leftovers(run.resolve("plots")), "no temporary files left");
  }

  @Test
  void aRunWithoutScalarsStillGetsEveryChartSayingSo() throws Exception {
    Path run = Files.createDirectories(tmp.resolve("fast-mode"));
    Files.writeString(run.resolve("events.jsonl"), "");
    Files.writeString(run.resolve("scalars.csv"), "step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns\n");
    for (Path png : RunPlots.write(run)) assertNotNull(ImageIO.read(png.toFile()), png.toString());
  }

  @Test
  void runsAreOverlaidOneChartPerQuantity() throws Exception {
    Path a = runDir("run-a", 1.0);
    Path b = runDir("run-b", 0.5);
    Path out = tmp.resolve("compared");
    List<Path> written = RunPlots.compare(List.of(a, b), out);
    assertEquals(RunPlots.COMPARE_FILES.stream().map(out::resolve).toList(), written);
    for (Path png : written) decoded(png, RunPlots.WIDTH, RunPlots.HEIGHT);
  }

  @Test
  void theRunLineIsTheMeanOfTheShardsLatestValues() {
    List<RunScalars.Point> a = List.of(new RunScalars.Point(0, 2), new RunScalars.Point(2, 4));
    List<RunScalars.Point> b = List.of(new RunScalars.Point(1, 6));
    assertEquals(List.of(new RunScalars.Point(0, 2), new RunScalars.Point(1, 4), new RunScalars.Point(2, 5)),
        RunScalars.mean(List.of(a, b)));
    assertEquals(List.of(new RunScalars.Point(0, 2), new RunScalars.Point(1, 8), new RunScalars.Point(2, 10)),
        RunScalars.sum(List.of(a, b)));
  }

  private static List<Path> leftovers(Path dir) throws Exception {
    try (var files = Files.list(dir)) {
      return files.filter(f -> f.getFileName().toString().startsWith(".")).toList();
    }
  }
}
