package io.quarry.coordinator.run;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * One run's directory, {@code runs/<run_id>/}, as files: {@code run.conf}, {@code events.jsonl} (every event in
 * arrival order), {@code scalars.csv} (one row per logged step or evaluation), {@code hard_examples.jsonl} (one
 * record per merge) and {@code checkpoints/<shard>/} (written by the workers). It writes what {@link RunRecords}
 * builds and knows nothing of their fields. Not thread-safe: its run actor owns it.
 *
 * <p>No write throws for a file that cannot be written (a full disk): each file only ever holds complete lines
 * ({@link LineFile}), and what could not be written is answered. Telemetry that cannot be written is dropped, and its
 * lines are counted in the answer. A lifecycle record (an event of the run's lifecycle, a merge record) that cannot be
 * written makes the directory {@link #failure() failed}: the first such failure is told to the listener of
 * {@link #whenUnwritable}, and later records are still tried (what can be written is).
 */
public final class RunDirectory implements AutoCloseable {
  /** Run ids are also directory names: letters, digits, '.', '_' and '-', not starting with '.'. */
  public static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

  /** Telemetry that could not be written: its lines (events and scalars rows) and why; {@link #NONE} when none. */
  public record Unwritten(long lines, String reason) {
    public static final Unwritten NONE = new Unwritten(0, "");

    private Unwritten plus(Unwritten other) {
      if (other.lines == 0) return this;
      return lines == 0 ? other : new Unwritten(lines + other.lines, reason);
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper().disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);

  private final Path dir;
  private final LineFile events;
  private final LineFile scalars;
  private final LineFile hardExamples;
  /** Telemetry of the batch being written, until {@link #flushTelemetry}. */
  private final ByteArrayOutputStream pendingEvents = new ByteArrayOutputStream(1 << 12);
  private final StringBuilder pendingScalars = new StringBuilder(1 << 12);
  private long pendingEventLines;
  private long pendingScalarsRows;
  /** Why the first lifecycle record could not be written; null while every one was. */
  private String failure;
  private Consumer<String> unwritable = reason -> {};
  private boolean closed;

  private RunDirectory(Path dir, boolean existing, LineFile.Opener opener) throws IOException {
    this.dir = dir;
    this.events = opener.open(dir.resolve("events.jsonl"), existing);
    this.scalars = opener.open(dir.resolve("scalars.csv"), existing);
    this.hardExamples = opener.open(dir.resolve("hard_examples.jsonl"), existing);
    if (!existing) scalars.append((RunRecords.SCALARS_HEADER + "\n").getBytes(StandardCharsets.UTF_8));
  }

  /** Creates {@code runsDir/runId/} with {@code run.conf}; fails if the run id is invalid or the directory exists. */
  public static RunDirectory create(Path runsDir, String runId, String runConf) throws IOException {
    return create(runsDir, runId, runConf, LineFile.DISK);
  }

  /** As {@link #create(Path, String, String)}, with its files opened by {@code opener}. */
  public static RunDirectory create(Path runsDir, String runId, String runConf, LineFile.Opener opener)
      throws IOException {
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
    return new RunDirectory(dir, false, opener);
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
    return new RunDirectory(dir, true, LineFile.DISK);
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

  /**
   * The listener told, once, of the first lifecycle record that cannot be written, with why ("cannot write the run
   * directory ...: No space left on device"). It runs on the writer's thread, inside the write.
   */
  public void whenUnwritable(Consumer<String> listener) {
    this.unwritable = listener;
  }

  /** Why the first lifecycle record that could not be written was not; empty while every one was. */
  public Optional<String> failure() {
    return Optional.ofNullable(failure);
  }

  /** Appends a lifecycle event to {@code events.jsonl}: readers see it at once. */
  public void writeEvent(ObjectNode event) {
    writeLifecycle(events, "events.jsonl", event);
  }

  /** Appends one merge record to {@code hard_examples.jsonl}: readers see it at once. */
  public void writeMerge(ObjectNode record) {
    writeLifecycle(hardExamples, "hard_examples.jsonl", record);
  }

  /** Appends a per-step event (one fast mode skips) to {@code events.jsonl} at once, or drops it. */
  public Unwritten writeTelemetryEvent(ObjectNode event) {
    return write(events, "events.jsonl", line(event), 1);
  }

  /**
   * Adds a telemetry event for {@code events.jsonl} and, when {@code scalarsRow} (with its newline) is not null, that
   * row for {@code scalars.csv}, to the batch that {@link #flushTelemetry} writes.
   */
  public void appendTelemetry(ObjectNode event, String scalarsRow) {
    if (event != null) {
      pendingEvents.writeBytes(line(event));
      pendingEventLines++;
    }
    if (scalarsRow != null) {
      pendingScalars.append(scalarsRow);
      pendingScalarsRows++;
    }
  }

  /** Writes the telemetry added since the last call; what cannot be written is dropped and answered. */
  public Unwritten flushTelemetry() {
    Unwritten unwritten = Unwritten.NONE;
    if (pendingEventLines > 0) {
      unwritten = write(events, "events.jsonl", pendingEvents.toByteArray(), pendingEventLines);
    }
    if (pendingScalarsRows > 0) {
      unwritten = unwritten.plus(write(scalars, "scalars.csv",
          pendingScalars.toString().getBytes(StandardCharsets.UTF_8), pendingScalarsRows));
    }
    pendingEvents.reset();
    pendingScalars.setLength(0);
    pendingEventLines = 0;
    pendingScalarsRows = 0;
    return unwritten;
  }

  /** Writes pending telemetry (dropping what cannot be) and releases the files. Does not throw. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    flushTelemetry();
    events.close();
    scalars.close();
    hardExamples.close();
  }

  private void writeLifecycle(LineFile file, String name, ObjectNode record) {
    Unwritten unwritten = write(file, name, line(record), 1);
    if (unwritten.lines() > 0 && failure == null) {
      failure = unwritten.reason();
      unwritable.accept(failure);
    }
  }

  private Unwritten write(LineFile file, String name, byte[] lines, long count) {
    try {
      file.append(lines);
      return Unwritten.NONE;
    } catch (IOException e) {
      return new Unwritten(count, "cannot write the run directory " + dir + " (" + name + "): " + osError(e));
    }
  }

  /** The operating system's words for {@code e} ("No space left on device"), without the path it names. */
  static String osError(IOException e) {
    if (e instanceof FileSystemException fs && fs.getReason() != null) return fs.getReason();
    return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
  }

  private static byte[] line(ObjectNode node) {
    try {
      byte[] json = JSON.writeValueAsBytes(node);
      byte[] line = Arrays.copyOf(json, json.length + 1);
      line[json.length] = '\n';
      return line;
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode a " + node.path("type").asText() + " record", e);
    }
  }
}
