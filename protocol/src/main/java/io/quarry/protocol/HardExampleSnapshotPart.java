package io.quarry.protocol;

import java.util.Arrays;
import java.util.List;

/**
 * One part of a worker's answer to {@link WorkerCommand.CollectHardExamples}: its {@link HardExampleSnapshot} cut into
 * messages that each fit the transport's frame ({@link HardExampleParts#cut}). Parts are sent in order, numbered from
 * 0 to {@code parts - 1}; the loss sketch's bytes come first (spread over as many parts as they need), then the
 * entries, highest loss first. The coordinator counts the worker as answered once every part has arrived; beyond
 * the first {@link PartWindow#IN_FLIGHT} parts the worker sends more only as the coordinator grants them
 * ({@link WorkerCommand.SnapshotCredit}).
 *
 * @param runId the run
 * @param merge the merge this answers
 * @param workerId the worker; every entry of the part is its own
 * @param part this part's index, from 0
 * @param parts how many parts the snapshot takes (at least one)
 * @param samplesSeen the snapshot's statistic (the same in every part)
 * @param aboveThreshold the snapshot's statistic (the same in every part)
 * @param maxLoss the snapshot's statistic (the same in every part)
 * @param sketchBytes the whole encoded loss sketch's length
 * @param sketchSlice this part's slice of the encoded sketch (empty once the sketch is sent)
 * @param entries this part's entries, in the snapshot's order
 */
public record HardExampleSnapshotPart(
    String runId,
    int merge,
    String workerId,
    int part,
    int parts,
    long samplesSeen,
    long aboveThreshold,
    float maxLoss,
    int sketchBytes,
    byte[] sketchSlice,
    List<HardExample> entries)
    implements QuarryMessage {
  public HardExampleSnapshotPart {
    entries = List.copyOf(entries);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof HardExampleSnapshotPart that && runId.equals(that.runId) && merge == that.merge
        && workerId.equals(that.workerId) && part == that.part && parts == that.parts
        && samplesSeen == that.samplesSeen && aboveThreshold == that.aboveThreshold
        && Float.compare(maxLoss, that.maxLoss) == 0 && sketchBytes == that.sketchBytes
        && Arrays.equals(sketchSlice, that.sketchSlice) && entries.equals(that.entries);
  }

  @Override
  public int hashCode() {
    return (31 * workerId.hashCode() + merge) * 31 + part;
  }

  @Override
  public String toString() {
    return "HardExampleSnapshotPart[runId=" + runId + ", merge=" + merge + ", workerId=" + workerId + ", part " + part
        + " of " + parts + ", " + sketchSlice.length + " sketch bytes, " + entries.size() + " entries]";
  }
}
