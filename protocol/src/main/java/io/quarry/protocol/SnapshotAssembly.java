package io.quarry.protocol;

import java.util.ArrayList;
import java.util.List;

/**
 * One worker's {@link HardExampleSnapshot}, put back together from its {@link HardExampleSnapshotPart}s as they
 * arrive, in order. What it holds is bounded: at most {@code maxEntries} entries (the run's K: a tracker never holds
 * more) and at most {@link #MAX_SKETCH_BYTES} of sketch; a part that would go past either, a part after a gap, or a
 * part that contradicts the others fails the assembly, which then holds nothing and says why.
 *
 * <p>Plain logic, not thread-safe: the state of the coordinator's gather of one merge.
 */
public final class SnapshotAssembly {
  /** Far beyond any real encoded sketch (two stores of a million 8-byte bins). */
  public static final int MAX_SKETCH_BYTES = 32 * 1024 * 1024;

  /** What one part did. */
  public enum Outcome {
    /** Taken; more parts are to come. */
    TAKEN,
    /** Taken, and the snapshot is whole. */
    COMPLETE,
    /** Ignored: a part taken before. */
    DUPLICATE,
    /** The assembly failed with this part (see {@link #failure()}); it takes no more. */
    FAILED,
    /** Ignored: the assembly is over (whole or failed). */
    OVER
  }

  private final int maxEntries;
  private final PartSequence sequence = new PartSequence();
  private List<HardExample> entries = new ArrayList<>();
  private byte[] sketch;
  private int sketchAt;
  private HardExampleSnapshotPart first;
  private String failure;

  /** @param maxEntries the most entries a snapshot may hold: the run's {@code hard-examples.k} */
  public SnapshotAssembly(int maxEntries) {
    this.maxEntries = maxEntries;
  }

  /** Takes {@code part}, the next of the worker's snapshot, or says why not. */
  public Outcome offer(HardExampleSnapshotPart part) {
    if (failure != null || sequence.complete()) return Outcome.OVER;
    PartSequence.Verdict verdict = sequence.offer(part.part(), part.parts());
    switch (verdict) {
      case DUPLICATE:
        return Outcome.DUPLICATE;
      case GAP:
        return fail("part " + part.part() + " of " + part.parts() + " came after " + sequence.describe()
            + ": the parts between were lost");
      case MALFORMED:
        return fail("part " + part.part() + " of " + part.parts() + " does not fit the snapshot's "
            + (sequence.parts() < 0 ? "numbering" : sequence.parts() + " parts"));
      default:
        break;
    }
    if (first == null) {
      if (part.sketchBytes() < 0 || part.sketchBytes() > MAX_SKETCH_BYTES) {
        return fail("a loss sketch of " + part.sketchBytes() + " bytes (at most " + MAX_SKETCH_BYTES + ")");
      }
      first = part;
      sketch = new byte[part.sketchBytes()];
    } else if (part.sketchBytes() != first.sketchBytes()) {
      return fail("part " + part.part() + " declares a sketch of " + part.sketchBytes() + " bytes, part 0 of "
          + first.sketchBytes());
    }
    byte[] slice = part.sketchSlice() == null ? new byte[0] : part.sketchSlice();
    if (slice.length > sketch.length - sketchAt) {
      return fail("part " + part.part() + " brings " + slice.length + " sketch bytes past the declared "
          + sketch.length);
    }
    if (entries.size() + part.entries().size() > maxEntries) {
      return fail("more than " + maxEntries + " entries (hard-examples.k)");
    }
    System.arraycopy(slice, 0, sketch, sketchAt, slice.length);
    sketchAt += slice.length;
    entries.addAll(part.entries());
    if (verdict == PartSequence.Verdict.NEXT) return Outcome.TAKEN;
    if (sketchAt != sketch.length) {
      return fail("its parts brought " + sketchAt + " of the sketch's " + sketch.length + " bytes");
    }
    return Outcome.COMPLETE;
  }

  private Outcome fail(String why) {
    failure = why;
    entries = List.of();
    sketch = null;
    return Outcome.FAILED;
  }

  /** True once every part has arrived and the snapshot is whole. */
  public boolean complete() {
    return failure == null && sequence.complete();
  }

  /** Why the assembly failed; null unless it did. */
  public String failure() {
    return failure;
  }

  /** Parts taken so far. */
  public int received() {
    return sequence.received();
  }

  /** The snapshot's part count; -1 before its first part. */
  public int parts() {
    return sequence.parts();
  }

  /** "3 of 7 parts": how far it came. */
  public String describe() {
    return sequence.describe();
  }

  /** The whole snapshot. */
  public HardExampleSnapshot snapshot() {
    if (!complete()) throw new IllegalStateException("the snapshot is not whole: " + describe());
    return new HardExampleSnapshot(first.runId(), first.merge(), first.workerId(), entries, first.samplesSeen(),
        first.aboveThreshold(), first.maxLoss(), sketch);
  }
}
