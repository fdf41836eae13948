package io.quarry.coordinator.run;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.protocol.HardExample;
import io.quarry.protocol.HardExamplePayload;
import java.awt.image.BufferedImage;
import java.io.BufferedWriter;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import org.agrona.collections.LongHashSet;

/**
 * A run's hard-example payloads on disk, {@code <run dir>/hard_examples/}: each PNG as {@code <sample_id>.png},
 * and one line per sample in {@code payloads.jsonl} ({@code sample_id}, {@code label}, {@code predicted},
 * {@code media_type}, {@code worker_id}, {@code merge}, and {@code file} for an image, relative to that directory,
 * or {@code features} for a tabular sample). Each sample is written once, whichever worker sends it and however
 * often; a payload that is corrupt, too big or over the run's count is dropped and reported, never written. The
 * directory appears with the first payload. Not thread-safe: its run actor owns it.
 */
public final class HardExamplePayloadFiles implements AutoCloseable {
  /** The directory under the run directory. */
  public static final String DIRECTORY = "hard_examples";
  /** The index of every payload written. */
  public static final String INDEX = "payloads.jsonl";
  /** The longest side of a PNG payload. */
  public static final int MAX_SIDE = HardExamplePayload.MAX_PNG_SIDE;

  private static final int IHDR = 0x49484452;
  private static final int IEND = 0x49454E44;
  private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  private static final ObjectMapper JSON = new ObjectMapper().disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);

  /**
   * {@code quarry.coordinator.payloads}.
   *
   * @param maxBytes a payload (PNG bytes, or 4 bytes per feature) larger than this is dropped
   * @param maxPerRun payloads written per run at most; later ones are dropped
   */
  public record Limits(int maxBytes, int maxPerRun) {}

  /** What became of one payload. */
  public sealed interface Outcome {
    /** Written now. */
    record Written() implements Outcome {}

    /** The sample's payload was written before; this one was ignored. */
    record Duplicate() implements Outcome {}

    /** Not written, for {@code reason}. */
    record Dropped(String reason) implements Outcome {}
  }

  private static final Outcome WRITTEN = new Outcome.Written();
  private static final Outcome DUPLICATE = new Outcome.Duplicate();

  private final Path dir;
  private final Limits limits;
  private final LongHashSet written = new LongHashSet();
  private Writer index;
  private long dropped;

  private HardExamplePayloadFiles(Path dir, Limits limits) {
    this.dir = dir;
    this.limits = limits;
  }

  /**
   * The payload files of the run in {@code runDir}. When the run directory already has some (a coordinator
   * recovering the run), their samples count as written, and a last line cut short by a crash is removed.
   */
  public static HardExamplePayloadFiles open(Path runDir, Limits limits) throws IOException {
    HardExamplePayloadFiles files = new HardExamplePayloadFiles(runDir.resolve(DIRECTORY), limits);
    Path index = files.dir.resolve(INDEX);
    if (Files.isRegularFile(index)) {
      RunDirectory.truncatePartialLastLine(index);
      for (String line : Files.readAllLines(index, StandardCharsets.UTF_8)) {
        if (line.isBlank()) continue;
        JsonNode node = JSON.readTree(line);
        if (node.path("sample_id").canConvertToLong()) files.written.add(node.path("sample_id").asLong());
      }
    }
    return files;
  }

  /** The directory the payloads go to (it may not exist yet). */
  public Path dir() {
    return dir;
  }

  /** Payloads written, recovered ones included. */
  public int written() {
    return written.size();
  }

  /** Payloads dropped by this instance (corrupt, too big, over the count). */
  public long dropped() {
    return dropped;
  }

  /**
   * Writes {@code payload} unless its sample has one already, or it is not fit to write.
   *
   * @param workerId the worker that sent it
   * @param merge the merge it was rendered for
   */
  public Outcome write(HardExamplePayload payload, String workerId, int merge) {
    if (payload == null) return drop("a null payload");
    long sampleId = payload.sampleId();
    if (written.contains(sampleId)) return DUPLICATE;
    String problem = problem(payload);
    if (problem != null) return drop("sample " + sampleId + " from " + workerId + ": " + problem);
    if (written.size() >= limits.maxPerRun()) {
      return drop("sample " + sampleId + " from " + workerId + ": the run has " + written.size()
          + " payloads, quarry.coordinator.payloads.max-per-run");
    }
    ObjectNode line = JSON.createObjectNode();
    line.put("sample_id", sampleId);
    label(line, "label", payload.label());
    label(line, "predicted", payload.predicted());
    line.put("media_type", payload.mediaType());
    line.put("worker_id", workerId);
    line.put("merge", merge);
    try {
      Files.createDirectories(dir);
      if (payload instanceof HardExamplePayload.Png png) {
        String file = sampleId + ".png";
        // Written aside and moved into place, so the index never names a half-written file.
        Path partial = dir.resolve(file + ".partial");
        Files.write(partial, png.png());
        Files.move(partial, dir.resolve(file), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        line.put("file", file);
      } else {
        ArrayNode features = line.putArray("features");
        for (float value : ((HardExamplePayload.Features) payload).values()) {
          if (Float.isFinite(value)) features.add(value);
          else features.addNull();
        }
      }
      if (index == null) {
        index = new BufferedWriter(Files.newBufferedWriter(dir.resolve(INDEX), StandardCharsets.UTF_8,
            StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE));
      }
      JSON.writeValue(index, line);
      index.write('\n');
      index.flush();
    } catch (IOException | UncheckedIOException e) {
      // Payloads are for people reading the run; a full disk here must not end the run.
      return drop("sample " + sampleId + " from " + workerId + ": cannot write to " + dir + ": " + e);
    }
    written.add(sampleId);
    return WRITTEN;
  }

  /** {@code null} for an unknown label or prediction, as in {@code hard_examples.jsonl}. */
  static void label(ObjectNode node, String field, int value) {
    if (value == HardExample.UNKNOWN) node.putNull(field);
    else node.put(field, value);
  }

  private Outcome drop(String reason) {
    dropped++;
    return new Outcome.Dropped(reason);
  }

  /** Why {@code payload} must not be written, or {@code null} when it is fit. */
  private String problem(HardExamplePayload payload) {
    if (payload.sampleId() < 0) return "negative sample id";
    if (payload instanceof HardExamplePayload.Png png) {
      if (png.png() == null || png.png().length == 0) return "an empty PNG";
      if (png.png().length > limits.maxBytes()) {
        return "a PNG of " + png.png().length + " bytes, over quarry.coordinator.payloads.max-bytes = "
            + limits.maxBytes();
      }
      return pngProblem(png.png());
    }
    float[] values = ((HardExamplePayload.Features) payload).values();
    if (values == null || values.length == 0) return "no features";
    if (values.length > HardExamplePayload.MAX_FEATURES) {
      return values.length + " features; a payload carries at most the leading " + HardExamplePayload.MAX_FEATURES;
    }
    if (4L * values.length > limits.maxBytes()) {
      return values.length + " features (" + 4L * values.length + " bytes), over quarry.coordinator.payloads.max-bytes = "
          + limits.maxBytes();
    }
    return null;
  }

  /**
   * Checks the signature, the header's size and every chunk's CRC up to a final IEND (cheap: a payload is a few
   * KiB), then decodes the image in full. A PNG cut short can still decode, so the chunk walk is what catches it.
   */
  static String pngProblem(byte[] png) {
    if (png.length < 33 || !Arrays.equals(Arrays.copyOf(png, 8), PNG_SIGNATURE)) return "not a PNG (bad signature)";
    ByteBuffer header = ByteBuffer.wrap(png, 8, 25);
    int ihdrLength = header.getInt();
    int type = header.getInt();
    if (ihdrLength != 13 || type != IHDR) return "not a PNG (no IHDR chunk first)";
    int width = header.getInt();
    int height = header.getInt();
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
      return "a " + Integer.toUnsignedString(width) + "x" + Integer.toUnsignedString(height) + " PNG; thumbnails are at most "
          + MAX_SIDE + "x" + MAX_SIDE;
    }
    String chunks = chunkProblem(png);
    if (chunks != null) return "a corrupt PNG (" + chunks + ")";
    Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName("png");
    if (!readers.hasNext()) return null; // no decoder in this JVM: the header checks must do
    ImageReader reader = readers.next();
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(png))) {
      reader.setInput(in, true, true);
      BufferedImage image = reader.read(0);
      if (image.getWidth() != width || image.getHeight() != height) return "a PNG whose pixels do not match its header";
      return null;
    } catch (IOException | RuntimeException e) {
      return "a corrupt PNG (" + e.getMessage() + ")";
    } finally {
      reader.dispose();
    }
  }

  /** Walks the chunks after the signature: each must fit and match its CRC, and the last must be IEND. */
  private static String chunkProblem(byte[] png) {
    ByteBuffer buffer = ByteBuffer.wrap(png);
    int position = 8;
    CRC32 crc = new CRC32();
    while (position + 12 <= png.length) {
      long length = Integer.toUnsignedLong(buffer.getInt(position));
      if (length > png.length - position - 12) return "a chunk at byte " + position + " runs past the end";
      int dataEnd = position + 8 + (int) length;
      crc.reset();
      crc.update(png, position + 4, 4 + (int) length);
      if ((int) crc.getValue() != buffer.getInt(dataEnd)) return "bad CRC in the chunk at byte " + position;
      int type = buffer.getInt(position + 4);
      position = dataEnd + 4;
      if (type == IEND) {
        return position == png.length ? null : (png.length - position) + " bytes after IEND";
      }
    }
    return "no IEND chunk: cut short";
  }

  /** Releases the index. Does not throw: every line was flushed when it was written (or its payload dropped). */
  @Override
  public void close() {
    if (index == null) return;
    try {
      index.close();
    } catch (IOException e) {
      // Nothing is left to write: a line that could not be flushed was counted as a dropped payload.
    } finally {
      index = null;
    }
  }
}
