package io.quarry.deploy;

import java.io.PrintStream;
import java.util.List;

/** The end-of-run summary both {@code quarry local} and {@code quarry submit --wait} print. */
final class RunReport {
  /** One hard example as printed. */
  record Hardest(long sampleId, float loss, String workerId, long step) {}

  private RunReport() {}

  static void print(PrintStream out, String runId, String status, long steps, long wallMs, double samplesPerSec,
      int merges, long droppedEvents, long stepsRedone, String reason, List<Hardest> hardest, String runDir) {
    headline(out, runId, status, steps, wallMs, samplesPerSec, merges, droppedEvents, stepsRedone, reason);
    List<Hardest> top = hardest.subList(0, Math.min(5, hardest.size()));
    if (!top.isEmpty()) {
      out.println("hardest examples (final merge):");
      out.printf("  %-4s %12s %9s  %-12s %8s%n", "#", "sample_id", "loss", "worker", "step");
      for (int i = 0; i < top.size(); i++) {
        Hardest example = top.get(i);
        out.printf("  %-4d %12d %9.4f  %-12s %8d%n", i + 1, example.sampleId(), example.loss(), example.workerId(),
            example.step());
      }
    }
    out.println("run directory: " + runDir);
  }

  /** The first line of the summary (and the reason, for a run that did not complete): what --quiet prints. */
  static void headline(PrintStream out, String runId, String status, long steps, long wallMs, double samplesPerSec,
      int merges, long droppedEvents, long stepsRedone, String reason) {
    out.printf("run %s %s: %,d steps in %.1f s, %,.0f samples/s, %d merge(s), %,d dropped event(s)%s%n",
        runId, status, steps, wallMs / 1000.0, samplesPerSec, merges, droppedEvents,
        stepsRedone > 0 ? ", " + stepsRedone + " step(s) redone" : "");
    if (reason != null && !reason.isEmpty()) out.println("reason: " + reason);
  }
}
