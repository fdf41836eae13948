package io.quarry.protocol;

import io.quarry.protocol.serialization.HardExampleCodec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Cuts the all-gather's messages, whose size grows with {@code hard-examples.k}, into parts that each fit a frame:
 * a worker's snapshot ({@link HardExampleSnapshotPart}) and a worker's share of the merged buffer
 * ({@link WorkerCommand.MergedHardExamples}). A part's size is counted exactly for its entries and sketch bytes
 * ({@link HardExampleCodec} is how they are written) and as an upper bound for its other fields, so that its
 * serialized form never exceeds {@code messageBytes} ({@link FrameBudget#messageBytes}). Plain logic.
 */
public final class HardExampleParts {
  /** An upper bound of every field of a part but its strings, refs, sketch and entries. */
  private static final int FIXED_BYTES = 96;
  /** What an actor ref (a path string) may take in a part; the frame's headroom covers longer ones. */
  private static final int REF_BYTES = 1024;

  private HardExampleParts() {}

  /**
   * {@code snapshot} as parts of at most {@code messageBytes} serialized bytes each: the sketch's bytes first, then
   * the entries in order. An empty snapshot is one part.
   */
  public static List<HardExampleSnapshotPart> cut(HardExampleSnapshot snapshot, int messageBytes) {
    byte[] sketch = snapshot.lossSketch() == null ? new byte[0] : snapshot.lossSketch();
    int room = room(messageBytes, FIXED_BYTES + HardExampleCodec.maxStringBytes(snapshot.runId())
        + HardExampleCodec.maxStringBytes(snapshot.workerId()));
    List<int[]> layout = layout(sketch.length, snapshot.entries(), room);
    List<HardExampleSnapshotPart> parts = new ArrayList<>(layout.size());
    for (int i = 0; i < layout.size(); i++) {
      int[] part = layout.get(i);
      parts.add(new HardExampleSnapshotPart(snapshot.runId(), snapshot.merge(), snapshot.workerId(), i, layout.size(),
          snapshot.samplesSeen(), snapshot.aboveThreshold(), snapshot.maxLoss(), sketch.length,
          Arrays.copyOfRange(sketch, part[0], part[1]), snapshot.entries().subList(part[2], part[3])));
    }
    return parts;
  }

  /**
   * One worker's share of a merged buffer (its own entries, highest loss first, possibly none) as parts of at most
   * {@code messageBytes} serialized bytes each.
   */
  public static List<WorkerCommand.MergedHardExamples> cutMerged(long incarnation, String runId, int merge,
      double threshold, String workerId, List<HardExample> own, ActorRef<RunCommand> replyTo, int messageBytes) {
    int room = room(messageBytes, FIXED_BYTES + HardExampleCodec.maxStringBytes(runId)
        + HardExampleCodec.maxStringBytes(workerId) + REF_BYTES);
    List<int[]> layout = layout(0, own, room);
    List<WorkerCommand.MergedHardExamples> parts = new ArrayList<>(layout.size());
    for (int i = 0; i < layout.size(); i++) {
      int[] part = layout.get(i);
      parts.add(new WorkerCommand.MergedHardExamples(incarnation, runId, merge, threshold, workerId, i, layout.size(),
          own.size(), own.subList(part[2], part[3]), replyTo));
    }
    return parts;
  }

  private static int room(int messageBytes, int headerBytes) {
    int room = messageBytes - headerBytes;
    if (room < 4 * HardExampleCodec.MAX_ENTRY_BYTES) {
      throw new IllegalArgumentException("a message of " + messageBytes + " bytes leaves " + room
          + " for entries after its " + headerBytes + " bytes of names: too small (frame size or names wrong?)");
    }
    return room;
  }

  /**
   * Where each part starts and ends: {@code {sketchFrom, sketchTo, entryFrom, entryTo}}, every part holding at most
   * {@code room} bytes of sketch slice and entries (with their two length prefixes). At least one part.
   */
  static List<int[]> layout(int sketchBytes, List<HardExample> entries, int room) {
    List<int[]> parts = new ArrayList<>();
    int sketchAt = 0;
    int entryAt = 0;
    do {
      int left = room - 2 * HardExampleCodec.MAX_COUNT_BYTES;
      int sketchTo = sketchAt + Math.min(sketchBytes - sketchAt, left);
      left -= sketchTo - sketchAt;
      int entryTo = entryAt;
      while (entryTo < entries.size()) {
        int bytes = HardExampleCodec.entryBytes(entries.get(entryTo));
        if (bytes > left) break;
        left -= bytes;
        entryTo++;
      }
      parts.add(new int[] {sketchAt, sketchTo, entryAt, entryTo});
      sketchAt = sketchTo;
      entryAt = entryTo;
    } while (sketchAt < sketchBytes || entryAt < entries.size());
    return parts;
  }
}
