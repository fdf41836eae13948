package io.quarry.coordinator.run;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.regex.Pattern;

/**
 * One run's directory, {@code runs/<run_id>/}, as files: {@code run.conf}, {@code events.jsonl} (every event in
 * arrival order), {@code scalars.csv} (one row per logged step or evaluation), {@code hard_examples.jsonl} (one
 * record per merge) and {@code checkpoints/<shard>/} (written by the workers). It writes what {@link RunRecords}
 * builds and knows nothing of their fields. Not thread-safe: its run actor owns it.
 */
public final class RunDirectory implements AutoCloseable {
  /** Run ids are also directory names: letters, digits, '.', '_' and '-', not starting with '.'. */
  public static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

  private static final ObjectMapper JSON = new ObjectMapper().disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);

  private final Path dir;
  private final Writer events;
  private final Writer scalars;
  private final Writer hardExamples;
  private boolean closed;

  private RunDirectory(Path dir, boolean existing) throws IOException {
    this.dir = dir;
    this.events = open(dir.resolve("events.jsonl"), existing);
    this.scalars = open(dir.resolve("scalars.csv"), existing);
    this.hardExamples = open(dir.resolve("hard_examples.jsonl"), existing);
    if (!existing) {
      scalars.write(RunRecords.SCALARS_HEADER);
      scalars.write('\n');
    }
  }

  /** Creates {@code runsDir/runId/} with {@code run.conf}; fails if the run id is invalid or the directory exists. */
  public static RunDirectory create(Path runsDir, String runId, String runConf) throws IOException {
    if (!RUN_ID.matcher(runId).matches()) {
      throw new IllegalArgumentException("run id '" + runId + "' is not allowed; use 1-128 letters, digits, '.', '_' or '-'");
    }
    Files.createDirectories(runsDir);
    Path dir = runsDir.resolve(runId);
    try {
      Files.createDirectory(dir);
    } catch (FileAlreadyExistsException e) {
      throw new IllegalArgumentException("run directory " + dir + " already exists; choose another run id");
    }
    Files.createDirectories(dir.resolve("checkpoints"));
    Files.writeString(dir.resolve("run.conf"), runConf, StandardCharsets.UTF_8);
    return new RunDirectory(dir, false);
  }

  /**
   * Opens an existing run directory to append to it (a coordinator recovering a run after a failover). A last
   * line cut short by the previous coordinator's death is removed, so every line stays one complete record.
   */
  public static RunDirectory reopen(Path runsDir, String runId) throws IOException {
    Path dir = runsDir.resolve(runId);
    for (String file : new String[] {"events.jsonl", "scalars.csv", "hard_examples.jsonl"}) {
      Path path = dir.resolve(file);
      if (!Files.isRegularFile(path)) {
        throw new IOException("cannot recover run " + runId + ": " + path + " is missing");
      }
      truncatePartialLastLine(path);
    }
    return new RunDirectory(dir, true);
  }

  /** Cuts a last line that a dying coordinator left half-written: what remains is complete lines only. */
  static void truncatePartialLastLine(Path file) throws IOException {
    try (var channel = java.nio.channels.FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long end = channel.size();
      java.nio.ByteBuffer chunk = java.nio.ByteBuffer.allocate(4096);
      long position = end;
      while (position > 0) {
        int length = (int) Math.min(chunk.capacity(), position);
        position -= length;
        chunk.clear().limit(length);
        channel.read(chunk, position);
        for (int i = length - 1; i >= 0; i--) {
          if (chunk.get(i) == '\n') {
            long keep = position + i + 1;
            if (keep < end) channel.truncate(keep);
            return;
          }
        }
      }
      channel.truncate(0);
    }
  }

  public Path path() {
    return dir;
  }

  /**
   * Where one attempt of a shard writes its checkpoints: a directory per attempt, so that an attempt the run has
   * given up on (its worker was unreachable, not dead, or it lost a speculative race) can never write over the
   * checkpoints of the attempt that replaced it. A new attempt resumes from the old one's checkpoint by its path.
   */
  public Path checkpointDir(int shard, int attempt) {
    return dir.resolve("checkpoints").resolve(Integer.toString(shard)).resolve("attempt-" + attempt);
  }

  /** Appends a lifecycle event to {@code events.jsonl} and flushes it: readers see it at once. */
  public void writeEvent(ObjectNode event) {
    writeLine(events, event);
  }

  /**
   * Appends a telemetry event to {@code events.jsonl} and, when {@code scalarsRow} is not null, that row to
   * {@code scalars.csv}, without flushing: a batch is flushed once, with {@link #flush}.
   */
  public void appendTelemetry(ObjectNode event, String scalarsRow) {
    try {
      if (event != null) appendLine(events, event);
      if (scalarsRow != null) scalars.append(scalarsRow);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write telemetry to " + dir, e);
    }
  }

  /** Appends one merge record to {@code hard_examples.jsonl} and flushes it. */
  public void writeMerge(ObjectNode record) {
    writeLine(hardExamples, record);
  }

  /** Makes everything written so far visible to readers of the files. */
  public void flush() {
    try {
      events.flush();
      scalars.flush();
      hardExamples.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot flush " + dir, e);
    }
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    try (events; scalars; hardExamples) {
      flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot close " + dir, e);
    }
  }

  private void writeLine(Writer writer, ObjectNode node) {
    try {
      appendLine(writer, node);
      writer.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write to " + dir, e);
    }
  }

  private static void appendLine(Writer writer, ObjectNode node) throws IOException {
    JSON.writeValue(writer, node);
    writer.write('\n');
  }

  private static Writer open(Path file, boolean append) throws IOException {
    StandardOpenOption mode = append ? StandardOpenOption.APPEND : StandardOpenOption.CREATE_NEW;
    return new BufferedWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8, mode, StandardOpenOption.WRITE),
        1 << 16);
  }
}
