package io.quarry.protocol;

/**
 * The receiving side's check of a message cut into parts (numbered {@code 0 .. parts - 1}, sent in order): Artery
 * keeps the order of one sender's messages to one recipient, so a part after a gap means the parts between were
 * lost (dropped by a full queue, an oversized frame, a restarted association), and no later part can fill it.
 *
 * <p>Not thread-safe: an actor's state.
 */
public final class PartSequence {
  /** What a part means to the message. */
  public enum Verdict {
    /** The next part; more are to come. */
    NEXT,
    /** The next part, and the last: the message is whole. */
    LAST,
    /** A part already taken (sent twice): ignore it. */
    DUPLICATE,
    /** A part after a gap: parts were lost and the message cannot be whole. */
    GAP,
    /** A part whose numbering contradicts the message's (another part count, an index out of range). */
    MALFORMED
  }

  private int parts = -1;
  private int next;

  /** Checks part {@code part} of {@code parts} and, when it is the next, takes it. */
  public Verdict offer(int part, int parts) {
    if (parts < 1 || part < 0 || part >= parts || (this.parts >= 0 && parts != this.parts)) return Verdict.MALFORMED;
    if (part < next) return Verdict.DUPLICATE;
    if (part > next) return Verdict.GAP;
    this.parts = parts;
    next++;
    return next == parts ? Verdict.LAST : Verdict.NEXT;
  }

  /** Parts taken so far. */
  public int received() {
    return next;
  }

  /** The message's part count, or -1 before its first part. */
  public int parts() {
    return parts;
  }

  /** True once every part has been taken. */
  public boolean complete() {
    return parts > 0 && next == parts;
  }

  /** "3 of 7 parts" (or "no part"): how far the message came, for a person. */
  public String describe() {
    return next == 0 ? "no part" : next + " of " + parts + " parts";
  }
}
