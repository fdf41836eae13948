package io.quarry.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.quarry.config.RunConfig;
import io.quarry.coordinator.plots.RunPlots;
import io.quarry.protocol.CoordinatorCommand.SubmitReply;
import io.quarry.protocol.RunSpec;
import io.quarry.protocol.RunState;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * PNG plots in the run directory: a finished run has every chart (local mode waits for them), {@code plots.enabled =
 * false} writes none, and {@code quarry plot} draws them again from an old run directory alone, or overlays runs.
 */
@Timeout(180)
class RunPlotsLocalTest extends CliCapture {
  @TempDir Path tmp;
  private LocalCluster cluster;

  @AfterEach
  void shutDown() {
    if (cluster != null) cluster.close();
  }

  private void run(String runId, String... overrides) throws Exception {
    List<String> keys = new ArrayList<>(List.of("stub.samples=2000", "batch-size=20", "epochs=2", "stub.step-time=0"));
    keys.addAll(List.of(overrides));
    SubmitReply reply = cluster.submit(new RunSpec(runId, RunConfig.fromOverrides(keys, Map.of()).toHocon()))
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertTrue(reply instanceof SubmitReply.Accepted, reply::toString);
    assertEquals(RunState.COMPLETED, cluster.follow(runId, p -> {}).get(60, TimeUnit.SECONDS).status());
  }

  private static void assertChart(Path png, int width, int height) throws Exception {
    assertTrue(Files.isRegularFile(png), "missing " + png);
    BufferedImage image = ImageIO.read(png.toFile());
    assertNotNull(image, png + " does not decode");
    assertEquals(width, image.getWidth(), png.toString());
    assertEquals(height, image.getHeight(), png.toString());
    int first = image.getRGB(0, 0);
    boolean varied = false;
    for (int x = 0; x < width && !varied; x += 2) for (int y = 0; y < height && !varied; y += 2) varied = image.getRGB(x, y) != first;
    assertTrue(varied, png + " is all one colour");
  }

  private static void assertEveryPlot(Path runDir) throws Exception {
    for (String file : RunPlots.FILES) {
      boolean sheet = file.equals(RunPlots.HARD_EXAMPLES);
      assertChart(runDir.resolve("plots").resolve(file), sheet ? RunPlots.SHEET_WIDTH : RunPlots.WIDTH,
          sheet ? RunPlots.SHEET_HEIGHT : RunPlots.HEIGHT);
    }
  }

  @Test
  void aFinishedRunHasEveryPlotAndQuarryPlotDrawsThemAgainFromTheRunDirectory() throws Exception {
    Path runs = tmp.resolve("runs");
    cluster = LocalCluster.start(2, runs, ConfigFactory.parseResources("application-test.conf"));
    run("plotted");
    run("second", "seed=7", "optimizer.lr=0.05");
    run("unplotted", "plots.enabled=false");
    cluster.close(); // waits for the plots being drawn
    cluster = null;
    assertEveryPlot(runs.resolve("plotted"));
    assertFalse(Files.exists(runs.resolve("unplotted/plots")), "plots.enabled = false draws none");

    // An old run directory, no coordinator: quarry plot by directory, and by id under --runs-dir.
    for (String file : RunPlots.FILES) Files.delete(runs.resolve("plotted/plots").resolve(file));
    assertEquals(QuarryCli.EXIT_COMPLETED, QuarryCli.run("plot", runs.resolve("plotted").toString()), stderr());
    assertEveryPlot(runs.resolve("plotted"));
    assertEquals(QuarryCli.EXIT_COMPLETED, QuarryCli.run("plot", "--runs-dir", runs.toString(), "unplotted"), stderr());
    assertEveryPlot(runs.resolve("unplotted"));
    assertTrue(stdout().contains(runs.resolve("unplotted/plots/loss.png").toString()), stdout());

    Path out = tmp.resolve("compared");
    assertEquals(QuarryCli.EXIT_COMPLETED, QuarryCli.run("plot", "--compare", "--runs-dir", runs.toString(), "--out",
        out.toString(), "plotted", "second"), stderr());
    for (String file : RunPlots.COMPARE_FILES) assertChart(out.resolve(file), RunPlots.WIDTH, RunPlots.HEIGHT);

    assertEquals(QuarryCli.EXIT_USAGE, QuarryCli.run("plot", "--runs-dir", runs.toString(), "nowhere"));
    assertTrue(stderr().contains("quarry plot: no run directory nowhere"), stderr());
  }
}
