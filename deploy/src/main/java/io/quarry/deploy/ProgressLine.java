package io.quarry.deploy;

import io.quarry.protocol.RunUpdate;
import java.io.PrintStream;

/**
 * The one progress line of a running run: percent, steps, loss, samples/s and ETA. On a terminal it is
 * redrawn in place; otherwise (CI logs) a plain line is printed every few seconds.
 */
final class ProgressLine {
  private static final long PLAIN_EVERY_MS = 5_000;

  private final PrintStream out;
  private final boolean terminal;
  private long lastPlainMs = Long.MIN_VALUE;
  private boolean drawn;

  ProgressLine(PrintStream out, boolean terminal) {
    this.out = out;
    this.terminal = terminal;
  }

  synchronized void update(RunUpdate.Progressed progress) {
    String line = render(progress);
    if (terminal) {
      out.print("\r" + line + "\u001b[K");
      out.flush();
      drawn = true;
    } else if (progress.elapsedMs() - lastPlainMs >= PLAIN_EVERY_MS || lastPlainMs == Long.MIN_VALUE) {
      lastPlainMs = progress.elapsedMs();
      out.println(line);
    }
  }

  synchronized void finish() {
    if (drawn) out.println();
  }

  static String render(RunUpdate.Progressed p) {
    double fraction = p.totalSteps() == 0 ? 0 : Math.min(1.0, (double) p.steps() / p.totalSteps());
    String eta = "--:--";
    if (p.steps() > 0 && fraction < 1.0) {
      long etaSec = Math.round(p.elapsedMs() / 1000.0 * (p.totalSteps() - p.steps()) / p.steps());
      eta = String.format("%d:%02d", etaSec / 60, etaSec % 60);
    } else if (fraction >= 1.0) {
      eta = "0:00";
    }
    String loss = Float.isNaN(p.loss()) ? "-" : String.format("%.4f", p.loss());
    return String.format("[%3.0f%%] %s step %,d/%,d  loss %s  %,.0f samples/s  ETA %s",
        fraction * 100, p.state().wireName(), p.steps(), p.totalSteps(), loss, p.samplesPerSec(), eta);
  }
}
