package io.quarry.deploy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.protocol.RunUpdate;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * What a following client prints while runs train: a progress bar per run (and one for the sweep) on a terminal,
 * plain periodic lines otherwise ({@link ProgressLine}), JSON lines with {@code --json}, nothing with {@code --quiet}.
 * Progress updates arrive on actor threads; every method is synchronized.
 */
final class RunOutput implements AutoCloseable {
  enum Mode { BAR, PLAIN, JSON, QUIET }

  private static final ObjectMapper JSON = new ObjectMapper();

  private final PrintStream out;
  private final Mode mode;
  private final int totalRuns;
  private ProgressBar sweepBar;
  private ProgressBar runBar;
  private ProgressLine line;
  private int done;

  RunOutput(PrintStream out, Mode mode, int totalRuns) {
    this.out = out;
    this.mode = mode;
    this.totalRuns = totalRuns;
  }

  static Mode mode(boolean quiet, boolean json, boolean terminal) {
    if (json) return Mode.JSON;
    if (quiet) return Mode.QUIET;
    return terminal ? Mode.BAR : Mode.PLAIN;
  }

  Mode mode() {
    return mode;
  }

  /** True when human-readable summaries are printed in full (not --quiet, not --json). */
  boolean verbose() {
    return mode == Mode.BAR || mode == Mode.PLAIN;
  }

  synchronized void runStarted(String runId) {
    if (mode == Mode.BAR && totalRuns > 1 && sweepBar == null) {
      sweepBar = bar("sweep", totalRuns).setUnit(" runs", 1).build();
    }
    if (mode == Mode.PLAIN && totalRuns > 1) out.printf("run %s (%d/%d) started%n", runId, done + 1, totalRuns);
    line = new ProgressLine(out, false);
  }

  synchronized void progress(RunUpdate.Progressed p) {
    switch (mode) {
      case BAR -> {
        if (runBar == null) runBar = bar(p.runId(), Math.max(1, p.totalSteps())).setUnit(" steps", 1).build();
        runBar.maxHint(Math.max(1, p.totalSteps()));
        runBar.stepTo(p.steps());
        runBar.setExtraMessage(String.format(Locale.ROOT, "%s loss %s %,.0f samples/s", p.state().wireName(),
            Float.isNaN(p.loss()) ? "-" : String.format(Locale.ROOT, "%.4f", p.loss()), p.samplesPerSec()));
      }
      case PLAIN -> {
        if (line == null) line = new ProgressLine(out, false);
        line.update(p);
      }
      case JSON -> {
        ObjectNode node = JSON.createObjectNode();
        node.put("type", "progress");
        node.put("run_id", p.runId());
        node.put("state", p.state().wireName());
        node.put("steps", p.steps());
        node.put("total_steps", p.totalSteps());
        if (Float.isNaN(p.loss())) node.putNull("loss");
        else node.put("loss", p.loss());
        node.put("samples_per_s", p.samplesPerSec());
        node.put("elapsed_ms", p.elapsedMs());
        out.println(node);
      }
      case QUIET -> {}
    }
  }

  /** The run has ended: closes its bar, advances the sweep's. {@code completed} is the run_completed event. */
  synchronized void runEnded(RunResult result) {
    done++;
    if (runBar != null) {
      // The last progress update can predate the final steps: show where the run really ended.
      if (result != null) runBar.stepTo(result.steps());
      runBar.close();
      runBar = null;
    }
    if (sweepBar != null) sweepBar.stepTo(done);
    if (mode == Mode.JSON && result != null && result.completed() != null) out.println(result.completed());
  }

  /** Prints a JSON object line ({@code --json} only). */
  synchronized void json(ObjectNode node) {
    if (mode == Mode.JSON) out.println(node);
  }

  @Override
  public synchronized void close() {
    if (runBar != null) runBar.close();
    if (sweepBar != null) sweepBar.close();
    runBar = null;
    sweepBar = null;
  }

  /** Bars go to standard error through the library's console consumer, which stacks several bars on a terminal. */
  private static ProgressBarBuilder bar(String task, long max) {
    return new ProgressBarBuilder().setTaskName(task).setInitialMax(max).setStyle(ProgressBarStyle.ASCII)
        .setUpdateIntervalMillis(200).setMaxRenderedLength(120);
  }

  static ObjectNode object() {
    return JSON.createObjectNode();
  }

  static List<String> modes() {
    return List.of("bar", "plain", "json", "quiet");
  }
}
