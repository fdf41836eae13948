package io.quarry.protocol.serialization;

import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import io.quarry.protocol.HardExample;
import java.util.ArrayList;
import java.util.List;

/**
 * The wire form of hard-example entries, written field by field (no class id, no boxing), and its exact size, so that
 * {@link io.quarry.protocol.HardExampleParts} can fill a message up to its frame without serializing it twice.
 *
 * <pre>
 * entry   := sampleId:varlong(+) loss:float32 step:varlong(+) label:varint(zigzag) predicted:varint(zigzag)
 * entries := count:varint(+) entry x count              (all of one worker, named once by the message)
 * </pre>
 *
 * An entry takes at most {@link #MAX_ENTRY_BYTES} bytes; a typical one (sample id under 2^28, step under 2^21, no
 * label) takes 12. The worker's id, which a {@link HardExample} carries, is written once per message, not per entry:
 * it was two thirds of a snapshot's bytes.
 */
public final class HardExampleCodec {
  /** The most bytes one entry takes: two 9-byte varlongs, a float and two 5-byte varints. */
  public static final int MAX_ENTRY_BYTES = 9 + 4 + 9 + 5 + 5;
  /** The most bytes a count (a varint) takes. */
  public static final int MAX_COUNT_BYTES = 5;

  private HardExampleCodec() {}

  /** The bytes {@link #writeEntry} writes for {@code entry}. */
  public static int entryBytes(HardExample entry) {
    return Output.varLongLength(entry.sampleId(), true) + 4 + Output.varLongLength(entry.step(), true)
        + Output.varIntLength(entry.label(), false) + Output.varIntLength(entry.predicted(), false);
  }

  /** The most bytes Kryo's {@code writeString} takes for {@code text} (its length, then at most 3 bytes a char). */
  public static int maxStringBytes(String text) {
    return MAX_COUNT_BYTES + 3 * (text == null ? 0 : text.length());
  }

  /** One entry, without its worker id. */
  public static void writeEntry(Output output, HardExample entry) {
    output.writeVarLong(entry.sampleId(), true);
    output.writeFloat(entry.loss());
    output.writeVarLong(entry.step(), true);
    output.writeVarInt(entry.label(), false); // UNKNOWN (-1) takes one byte
    output.writeVarInt(entry.predicted(), false);
  }

  /** One entry, named {@code workerId}. */
  public static HardExample readEntry(Input input, String workerId) {
    return new HardExample(input.readVarLong(true), input.readFloat(), workerId, input.readVarLong(true),
        input.readVarInt(false), input.readVarInt(false));
  }

  /**
   * Entries that all belong to {@code workerId}, with their count.
   *
   * @throws KryoException when one belongs to another worker (the reader would name it {@code workerId})
   */
  public static void writeEntries(Output output, String workerId, List<HardExample> entries) {
    output.writeVarInt(entries.size(), true);
    for (HardExample entry : entries) {
      if (!workerId.equals(entry.workerId())) {
        throw new KryoException("an entry of worker " + entry.workerId() + " in a message of worker " + workerId);
      }
      writeEntry(output, entry);
    }
  }

  /** What {@link #writeEntries} wrote, every entry named {@code workerId}. */
  public static List<HardExample> readEntries(Input input, String workerId) {
    int count = input.readVarInt(true);
    // Every entry takes at least 7 bytes: a corrupt count cannot make the list allocate beyond the input.
    if (count < 0 || (long) count * 7 > input.limit() - input.position()) {
      throw new KryoException("declared " + count + " entries do not fit in the " + (input.limit() - input.position())
          + " bytes left");
    }
    List<HardExample> entries = new ArrayList<>(count);
    for (int i = 0; i < count; i++) entries.add(readEntry(input, workerId));
    return entries;
  }
}
