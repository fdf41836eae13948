package io.quarry.protocol.sketch;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.datadoghq.sketch.ddsketch.mapping.BitwiseLinearlyInterpolatedMapping;
import com.datadoghq.sketch.ddsketch.mapping.IndexMapping;
import com.datadoghq.sketch.ddsketch.store.Store;
import com.datadoghq.sketch.ddsketch.store.UnboundedSizeDenseStore;
import java.util.Arrays;
import java.util.List;

/**
 * The mergeable quantile sketch of per-sample losses that workers keep and the coordinator merges: a DDSketch
 * with a cheap bit-twiddling index mapping (relative accuracy about 1%). Negative losses go to the sketch's
 * negative store; only values within about 1e-308 of zero count as zero.
 *
 * <p>Every node must build sketches with the same mapping, so they are only ever made here, and the wire form is
 * this class's own, without the mapping. DDSketch's own encoding was tried and dropped: it names the bitwise
 * mapping as a plain linearly interpolated one (whose sketches do not merge with {@link #create()}'s), and
 * decoding its variable-length counts bin by bin made folding 256 workers' sketches take more than a merge's
 * whole 2 ms budget. Here each store is its dense range of counts at one fixed width, which the coordinator adds
 * into plain arrays without a data-dependent branch. Counts are whole numbers, as {@code accept(loss)} makes them.
 *
 * <pre>
 * sketch := version:byte(2) zeroCount:varlong negative:store positive:store
 * store  := bins:varint(0)                                          (empty)
 *         | bins:varint minIndex:zigzag-varlong width:byte(1|2|4|8) count:uint-le(width) x bins
 * </pre>
 */
public final class LossSketch {
  /** Relative accuracy of every quantile the sketch answers. */
  public static final double RELATIVE_ACCURACY = 0.01;

  private static final IndexMapping MAPPING = new BitwiseLinearlyInterpolatedMapping(RELATIVE_ACCURACY);
  private static final byte VERSION = 2;
  /** Far beyond any real store (about 250 000 bins span every positive double); stops corrupt input early. */
  private static final int MAX_BINS = 1 << 20;

  private LossSketch() {}

  /** A new, empty sketch. */
  public static DDSketch create() {
    return new DDSketch(MAPPING, UnboundedSizeDenseStore::new);
  }

  /** The sketch's wire form (see the class comment). */
  public static byte[] encode(DDSketch sketch) {
    Store negative = sketch.getNegativeValueStore();
    Store positive = sketch.getPositiveValueStore();
    long zeroCount = wholeCount(sketch.getCount() - negative.getTotalCount() - positive.getTotalCount());
    Writer writer = new Writer(32 + encodedSize(negative) + encodedSize(positive));
    writer.writeByte(VERSION);
    writer.writeVarLong(zeroCount);
    writer.writeStore(negative);
    writer.writeStore(positive);
    return Arrays.copyOf(writer.bytes, writer.size);
  }

  /** Decodes {@link #encode}'s output; an empty array is an empty sketch. */
  public static DDSketch decode(byte[] bytes) {
    if (bytes == null || bytes.length == 0) return create();
    return mergeEncoded(List.of(bytes));
  }

  /**
   * One sketch of everything the encoded sketches counted: how the coordinator folds every worker's sketch at a
   * merge. Null and empty arrays count as empty sketches.
   *
   * @throws IllegalArgumentException when one of them is corrupt
   */
  public static DDSketch mergeEncoded(Iterable<byte[]> encodedSketches) {
    Bins negative = new Bins();
    Bins positive = new Bins();
    long zeroCount = 0;
    for (byte[] bytes : encodedSketches) {
      if (bytes == null || bytes.length == 0) continue;
      try {
        if (bytes[0] != VERSION) {
          throw new IllegalArgumentException("unknown version " + bytes[0] + ", expected " + VERSION);
        }
        Reader reader = new Reader(bytes);
        zeroCount += reader.readVarLong();
        reader.readStore(negative);
        reader.readStore(positive);
        if (reader.position != bytes.length) {
          throw new IllegalArgumentException((bytes.length - reader.position) + " bytes left over");
        }
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("corrupt loss sketch (" + bytes.length + " bytes): " + e.getMessage(), e);
      }
    }
    DDSketch sketch = create();
    negative.addTo(sketch.getNegativeValueStore());
    positive.addTo(sketch.getPositiveValueStore());
    if (zeroCount > 0) {
      sketch.accept(0.0, zeroCount);
    }
    return sketch;
  }

  /** The {@code quantile} of the sketch, or {@code NaN} when it is empty. */
  public static double quantile(DDSketch sketch, double quantile) {
    return sketch.isEmpty() ? Double.NaN : sketch.getValueAtQuantile(quantile);
  }

  private static long wholeCount(double count) {
    if (count < 0 || count != Math.rint(count) || count >= 0x1p63) {
      throw new IllegalArgumentException("a loss sketch holds whole, non-negative counts, got " + count);
    }
    return (long) count;
  }

  private static int encodedSize(Store store) {
    if (store.isEmpty()) return 1;
    return 16 + (store.getMaxIndex() - store.getMinIndex() + 1) * Long.BYTES;
  }

  private static final class Writer {
    final byte[] bytes;
    int size;

    Writer(int capacity) {
      bytes = new byte[capacity];
    }

    void writeByte(int value) {
      bytes[size++] = (byte) value;
    }

    void writeStore(Store store) {
      if (store.isEmpty()) {
        writeVarLong(0);
        return;
      }
      int minIndex = store.getMinIndex();
      int bins = store.getMaxIndex() - minIndex + 1;
      long[] maxCount = {0};
      store.forEach((index, count) -> maxCount[0] = Math.max(maxCount[0], wholeCount(count)));
      int width = maxCount[0] < 1L << 8 ? 1 : maxCount[0] < 1L << 16 ? 2 : maxCount[0] < 1L << 32 ? 4 : 8;
      writeVarLong(bins);
      writeVarLong(((long) minIndex << 1) ^ ((long) minIndex >> 63)); // zigzag: small negatives stay short
      writeByte(width);
      int start = size;
      size += bins * width; // bins without a count stay zero
      store.forEach((index, count) -> {
        long value = (long) count;
        int at = start + (index - minIndex) * width;
        for (int b = 0; b < width; b++) {
          bytes[at + b] = (byte) (value >>> (8 * b));
        }
      });
    }

    void writeVarLong(long value) {
      while ((value & ~0x7FL) != 0) {
        bytes[size++] = (byte) ((value & 0x7F) | 0x80);
        value >>>= 7;
      }
      bytes[size++] = (byte) value;
    }
  }

  /** The union of many stores' counts, in one array that grows to cover every index seen. */
  private static final class Bins {
    long[] counts = new long[0];
    int firstIndex;

    /** The array slot of {@code minIndex}, after growing the array to hold {@code bins} bins from there. */
    int slotFor(int minIndex, int bins) {
      long lastIndex = (long) minIndex + bins - 1;
      if (counts.length == 0) {
        counts = new long[bins];
        firstIndex = minIndex;
      } else if (minIndex < firstIndex || lastIndex >= (long) firstIndex + counts.length) {
        int newFirst = Math.min(firstIndex, minIndex);
        long newLast = Math.max((long) firstIndex + counts.length - 1, lastIndex);
        long[] grown = new long[Math.toIntExact(newLast - newFirst + 1)];
        System.arraycopy(counts, 0, grown, firstIndex - newFirst, counts.length);
        counts = grown;
        firstIndex = newFirst;
      }
      return minIndex - firstIndex;
    }

    void addTo(Store store) {
      for (int i = 0; i < counts.length; i++) {
        if (counts[i] != 0) {
          store.add(firstIndex + i, (double) counts[i]);
        }
      }
    }
  }

  private static final class Reader {
    final byte[] bytes;
    int position = 1; // after the version

    Reader(byte[] bytes) {
      this.bytes = bytes;
    }

    void readStore(Bins into) {
      long bins = readVarLong();
      if (bins == 0) return;
      if (bins < 0 || bins > MAX_BINS) {
        throw new IllegalArgumentException("store of " + bins + " bins, at most " + MAX_BINS + " allowed");
      }
      long zigzag = readVarLong();
      int minIndex = Math.toIntExact((zigzag >>> 1) ^ -(zigzag & 1));
      int width = readByte();
      if (width != 1 && width != 2 && width != 4 && width != 8) {
        throw new IllegalArgumentException("count width " + width + " at byte " + (position - 1));
      }
      int n = (int) bins;
      if (bytes.length - position < n * width) {
        throw new IllegalArgumentException("truncated: " + n + " counts of " + width + " bytes at byte " + position);
      }
      int slot = into.slotFor(minIndex, n);
      long[] counts = into.counts;
      int at = position;
      // One loop per width, so the loop body has no branch on the data: this runs for every bin of every
      // worker's sketch at every merge.
      switch (width) {
        case 1 -> {
          for (int i = 0; i < n; i++) counts[slot + i] += bytes[at + i] & 0xFF;
        }
        case 2 -> {
          for (int i = 0; i < n; i++, at += 2) {
            counts[slot + i] += (bytes[at] & 0xFF) | (bytes[at + 1] & 0xFF) << 8;
          }
        }
        default -> {
          for (int i = 0; i < n; i++) {
            long value = 0;
            for (int b = 0; b < width; b++) value |= (bytes[at++] & 0xFFL) << (8 * b);
            counts[slot + i] += value;
          }
        }
      }
      position += n * width;
    }

    int readByte() {
      if (position >= bytes.length) {
        throw new IllegalArgumentException("truncated at byte " + position);
      }
      return bytes[position++] & 0xFF;
    }

    long readVarLong() {
      long value = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        int b = readByte();
        value |= (long) (b & 0x7F) << shift;
        if (b < 0x80) {
          return value;
        }
      }
      throw new IllegalArgumentException("varint longer than 10 bytes at byte " + position);
    }
  }
}
