package io.quarry.deploy;

import java.io.PrintStream;
import java.util.List;

/** The end-of-run summary both {@code quarry local} and {@code quarry submit --wait} print. */
final class RunReport {
  /** One hard example as printed; {@code label} and {@code predicted} are negative when unknown. */
  record Hardest(long sampleId, float loss, String workerId, long step, int label, int predicted) {
    boolean labelled() {
      return label >= 0 || predicted >= 0;
    }
  }

  private RunReport() {}

  static void print(PrintStream out, String runId, String status, long steps, long wallMs, double samplesPerSec,
      int merges, long droppedEvents, long stepsRedone, String reason, String hardExamplesWarning, Double valAccuracy,
      Double valLoss, List<Hardest> hardest, String runDir) {
    headline(out, runId, status, steps, wallMs, samplesPerSec, merges, droppedEvents, stepsRedone, reason,
        hardExamplesWarning);
    if (valAccuracy != null && !valAccuracy.isNaN()) {
      out.printf("validation: accuracy %.4f, loss %s%n", valAccuracy,
          valLoss == null || valLoss.isNaN() ? "-" : String.format(java.util.Locale.ROOT, "%.4f", valLoss));
    }
    List<Hardest> top = hardest.subList(0, Math.min(5, hardest.size()));
    if (!top.isEmpty()) {
      out.println("hardest examples (last merge):");
      // The label columns only when the trainer reported labels or predictions (not the stub or process trainers).
      boolean labelled = top.stream().anyMatch(Hardest::labelled);
      if (labelled) {
        out.printf("  %-4s %12s %9s %6s %9s  %-12s %8s%n", "#", "sample_id", "loss", "label", "predicted", "worker",
            "step");
      } else {
        out.printf("  %-4s %12s %9s  %-12s %8s%n", "#", "sample_id", "loss", "worker", "step");
      }
      for (int i = 0; i < top.size(); i++) {
        Hardest example = top.get(i);
        if (labelled) {
          out.printf("  %-4d %12d %9.4f %6s %9s  %-12s %8d%n", i + 1, example.sampleId(), example.loss(),
              known(example.label()), known(example.predicted()), example.workerId(), example.step());
        } else {
          out.printf("  %-4d %12d %9.4f  %-12s %8d%n", i + 1, example.sampleId(), example.loss(), example.workerId(),
              example.step());
        }
      }
    }
    out.println("run directory: " + runDir);
  }

  private static String known(int classIndex) {
    return classIndex >= 0 ? Integer.toString(classIndex) : "-";
  }

  /**
   * The first line of the summary (and the reason, for a run that did not complete, and a warning when its merges left
   * workers out, above all when the run has no hard examples at all): what --quiet prints.
   */
  static void headline(PrintStream out, String runId, String status, long steps, long wallMs, double samplesPerSec,
      int merges, long droppedEvents, long stepsRedone, String reason, String hardExamplesWarning) {
    out.printf("run %s %s: %,d steps in %.1f s, %,.0f samples/s, %d merge(s), %,d dropped event(s)%s%n",
        runId, status, steps, wallMs / 1000.0, samplesPerSec, merges, droppedEvents,
        stepsRedone > 0 ? ", " + stepsRedone + " step(s) redone" : "");
    if (reason != null && !reason.isEmpty()) out.println("reason: " + reason);
    if (hardExamplesWarning != null && !hardExamplesWarning.isEmpty()) out.println("warning: " + hardExamplesWarning);
  }
}
