package io.quarry.coordinator.plots;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import javax.imageio.ImageIO;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * PNG charts of a run, drawn from its run directory alone ({@code scalars.csv}, {@code hard_examples.jsonl},
 * {@code hard_examples/}), so that a run of any age plots without a coordinator: into {@code <run dir>/plots/},
 * {@value #LOSS}, {@value #VAL_ACCURACY}, {@value #LR}, {@value #SAMPLES_PER_S} (each per shard and for the run) and
 * {@value #HARD_EXAMPLES} (a contact sheet of the last merge's hardest examples); and several runs overlaid in one
 * chart per quantity ({@link #compare}). JFreeChart, headless. Each file is written whole, then renamed into place.
 */
public final class RunPlots {
  /** The directory under a run directory. */
  public static final String DIRECTORY = "plots";
  public static final String LOSS = "loss.png";
  public static final String VAL_ACCURACY = "val_accuracy.png";
  public static final String LR = "lr.png";
  public static final String SAMPLES_PER_S = "samples_per_s.png";
  public static final String HARD_EXAMPLES = "hard_examples.png";
  /** Every file {@link #write} makes. */
  public static final List<String> FILES = List.of(LOSS, VAL_ACCURACY, LR, SAMPLES_PER_S, HARD_EXAMPLES);
  /** What {@link #compare} makes. */
  public static final List<String> COMPARE_FILES =
      List.of("compare_loss.png", "compare_val_loss.png", "compare_val_accuracy.png", "compare_samples_per_s.png");
  public static final int WIDTH = 1000;
  public static final int HEIGHT = 600;
  public static final int SHEET_WIDTH = HardExamplesSheet.WIDTH;
  public static final int SHEET_HEIGHT = HardExamplesSheet.HEIGHT;

  /** Shards drawn one by one; a run with more has only its run-wide line (the chart would be unreadable). */
  static final int MAX_SHARD_SERIES = 12;

  private static final BasicStroke THIN = new BasicStroke(1.2f);
  private static final BasicStroke THICK = new BasicStroke(2.6f);
  private static final BasicStroke DASHED =
      new BasicStroke(1.6f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f);

  static {
    if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
  }

  private RunPlots() {}

  /** Writes every chart of the run in {@code runDir} to {@code runDir/plots/}; returns the files written. */
  public static List<Path> write(Path runDir) throws IOException {
    if (!Files.isDirectory(runDir)) throw new IOException("no run directory " + runDir);
    String run = runDir.getFileName().toString();
    RunScalars scalars = RunScalars.read(runDir);
    Path plots = Files.createDirectories(runDir.resolve(DIRECTORY));
    List<Path> written = new ArrayList<>();
    written.add(save(chart("Loss: " + run, "step", "loss", lossSeries(scalars)), plots.resolve(LOSS)));
    written.add(save(chart("Validation accuracy: " + run, "step", "accuracy",
        perShard(scalars, s -> s.valAccuracy, "", "run (mean)", false, false)), plots.resolve(VAL_ACCURACY)));
    written.add(save(chart("Learning rate: " + run, "step", "lr",
        perShard(scalars, s -> s.lr, "", "run (mean)", false, false)), plots.resolve(LR)));
    written.add(save(chart("Samples/s: " + run, "seconds since the first step", "samples/s",
        perShard(scalars, s -> s.samplesPerSecByTime, "", "run (all shards)", true, false)), plots.resolve(SAMPLES_PER_S)));
    written.add(save(HardExamplesSheet.draw(runDir, "Hardest examples: " + run), plots.resolve(HARD_EXAMPLES)));
    return written;
  }

  /**
   * Overlays the runs in {@code runDirs} in one chart per quantity (each run's run-wide line), written to
   * {@code outDir} as {@link #COMPARE_FILES}; returns the files written.
   */
  public static List<Path> compare(List<Path> runDirs, Path outDir) throws IOException {
    List<Map.Entry<String, RunScalars>> runs = new ArrayList<>();
    for (Path dir : runDirs) {
      if (!Files.isDirectory(dir)) throw new IOException("no run directory " + dir);
      runs.add(Map.entry(dir.getFileName().toString(), RunScalars.read(dir)));
    }
    Files.createDirectories(outDir);
    String names = String.join(", ", runs.stream().map(Map.Entry::getKey).toList());
    List<Path> written = new ArrayList<>();
    written.add(save(chart("Training loss: " + names, "step", "loss", overlay(runs, s -> s.loss, false)),
        outDir.resolve(COMPARE_FILES.get(0))));
    written.add(save(chart("Validation loss: " + names, "step", "loss", overlay(runs, s -> s.valLoss, false)),
        outDir.resolve(COMPARE_FILES.get(1))));
    written.add(save(chart("Validation accuracy: " + names, "step", "accuracy", overlay(runs, s -> s.valAccuracy, false)),
        outDir.resolve(COMPARE_FILES.get(2))));
    written.add(save(chart("Samples/s: " + names, "seconds since the first step", "samples/s",
        overlay(runs, s -> s.samplesPerSecByTime, true)), outDir.resolve(COMPARE_FILES.get(3))));
    return written;
  }

  /** A line to draw: its points, and how. */
  private record Line(String name, List<RunScalars.Point> points, BasicStroke stroke) {}

  private static List<Line> lossSeries(RunScalars scalars) {
    List<Line> lines = new ArrayList<>(perShard(scalars, s -> s.loss, "train ", "train (run mean)", false, false));
    lines.addAll(perShard(scalars, s -> s.valLoss, "val ", "val (run mean)", false, true));
    return lines;
  }

  /** One line per shard (up to {@link #MAX_SHARD_SERIES}) and the run's (mean, or sum), thicker. */
  private static List<Line> perShard(RunScalars scalars, Function<RunScalars.Shard, List<RunScalars.Point>> values,
      String prefix, String runName, boolean sum, boolean dashed) {
    List<Line> lines = new ArrayList<>();
    List<List<RunScalars.Point>> all = new ArrayList<>();
    boolean each = scalars.shards.size() <= MAX_SHARD_SERIES;
    scalars.shards.forEach((index, shard) -> {
      List<RunScalars.Point> points = values.apply(shard);
      all.add(points);
      if (each && !points.isEmpty()) lines.add(new Line(prefix + "shard " + index, points, dashed ? DASHED : THIN));
    });
    List<RunScalars.Point> run = sum ? RunScalars.sum(all) : RunScalars.mean(all);
    if (!run.isEmpty() && (scalars.shards.size() > 1 || !each)) lines.add(new Line(runName, run, THICK));
    return lines;
  }

  private static List<Line> overlay(List<Map.Entry<String, RunScalars>> runs,
      Function<RunScalars.Shard, List<RunScalars.Point>> values, boolean sum) {
    List<Line> lines = new ArrayList<>();
    for (Map.Entry<String, RunScalars> run : runs) {
      List<List<RunScalars.Point>> all = run.getValue().shards.values().stream().map(values).toList();
      List<RunScalars.Point> points = sum ? RunScalars.sum(all) : RunScalars.mean(all);
      if (!points.isEmpty()) lines.add(new Line(run.getKey(), points, THICK));
    }
    return lines;
  }

  private static JFreeChart chart(String title, String xLabel, String yLabel, List<Line> lines) {
    XYSeriesCollection dataset = new XYSeriesCollection();
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
    for (int i = 0; i < lines.size(); i++) {
      Line line = lines.get(i);
      XYSeries series = new XYSeries(line.name() + (dataset.getSeriesIndex(line.name()) >= 0 ? " " + i : ""), true, true);
      for (RunScalars.Point point : line.points()) series.add(point.x(), point.y(), false);
      dataset.addSeries(series);
      renderer.setSeriesStroke(i, line.stroke());
      renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
    }
    NumberAxis x = new NumberAxis(xLabel);
    NumberAxis y = new NumberAxis(yLabel);
    y.setAutoRangeIncludesZero(false);
    XYPlot plot = new XYPlot(dataset, x, y, renderer);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(new Color(0xDDDDDD));
    plot.setRangeGridlinePaint(new Color(0xDDDDDD));
    JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, 18), plot, true);
    chart.setBackgroundPaint(Color.WHITE);
    if (lines.isEmpty()) {
      chart.addSubtitle(new TextTitle("no values logged (fast mode, or a trainer that does not report this)",
          new Font(Font.SANS_SERIF, Font.ITALIC, 14)));
    }
    return chart;
  }

  /** Distinct, readable on white; the run-wide lines come last and get the darker ones in turn. */
  private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
      new Color(0xd62728), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f),
      new Color(0xbcbd22), new Color(0x17becf), new Color(0x393b79), new Color(0x637939), new Color(0x111111)};

  private static Path save(JFreeChart chart, Path file) throws IOException {
    return write(file, out -> ChartUtils.writeChartAsPNG(out, chart, WIDTH, HEIGHT));
  }

  private static Path save(BufferedImage image, Path file) throws IOException {
    return write(file, out -> ImageIO.write(image, "png", out));
  }

  private interface Writer {
    void to(OutputStream out) throws IOException;
  }

  private static Path write(Path file, Writer writer) throws IOException {
    Path temporary = file.resolveSibling("." + file.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(temporary)) {
      writer.to(out);
    }
    Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return file;
  }
}
