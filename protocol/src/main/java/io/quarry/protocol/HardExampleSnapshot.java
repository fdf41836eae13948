package io.quarry.protocol;

import java.util.List;

/**
 * A worker's answer to {@link WorkerCommand.CollectHardExamples}: its hard-example buffer for the run,
 * highest loss first, with the window's statistics and a mergeable sketch of every loss it saw. It grows with
 * {@code hard-examples.k}, so it never crosses the wire whole: it travels as {@link HardExampleSnapshotPart}s
 * ({@link HardExampleParts#cut}) and is put back together by a {@link SnapshotAssembly}.
 *
 * @param runId the run
 * @param merge the merge this answers
 * @param workerId the worker
 * @param entries at most K entries, highest loss first (equal losses by ascending sample id), unique sample ids
 * @param samplesSeen per-sample losses offered since the last merge
 * @param aboveThreshold how many of them lay above the last merged threshold
 * @param maxLoss the highest loss seen since the last merge ({@code NaN} if none)
 * @param lossSketch every loss seen since the last merge, as an encoded {@link io.quarry.protocol.sketch.LossSketch}
 */
public record HardExampleSnapshot(
    String runId,
    int merge,
    String workerId,
    List<HardExample> entries,
    long samplesSeen,
    long aboveThreshold,
    float maxLoss,
    byte[] lossSketch) {
  public HardExampleSnapshot {
    entries = List.copyOf(entries);
  }
}
