package io.quarry.coordinator.run;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarry.protocol.TelemetryEvent;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.regex.Pattern;

/**
 * One run's directory, {@code runs/<run_id>/}: {@code run.conf}, {@code events.jsonl} (every event in arrival
 * order), {@code scalars.csv} (one row per logged step or evaluation), {@code hard_examples.jsonl} (one record
 * per merge) and {@code checkpoints/<shard>/} (written by the workers). Not thread-safe: its run actor owns it.
 */
public final class RunDirectory implements AutoCloseable {
  /** Run ids are also directory names: letters, digits, '.', '_' and '-', not starting with '.'. */
  public static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

  /** Columns of {@code scalars.csv}, in order. */
  public static final String SCALARS_HEADER = "step,epoch,worker_id,shard,split,loss,lr,samples_per_s,accuracy,ts_unix_ns";

  private static final ObjectMapper JSON = new ObjectMapper().disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);

  private final Path dir;
  private final String runId;
  private final Clock clock;
  private final Writer events;
  private final Writer scalars;
  private final Writer hardExamples;
  private boolean closed;

  private RunDirectory(Path dir, String runId, Clock clock, boolean existing) throws IOException {
    this.dir = dir;
    this.runId = runId;
    this.clock = clock;
    this.events = open(dir.resolve("events.jsonl"), existing);
    this.scalars = open(dir.resolve("scalars.csv"), existing);
    this.hardExamples = open(dir.resolve("hard_examples.jsonl"), existing);
    if (!existing) {
      scalars.write(SCALARS_HEADER);
      scalars.write('\n');
    }
  }

  /** Creates {@code runsDir/runId/} with {@code run.conf}; fails if the run id is invalid or the directory exists. */
  public static RunDirectory create(Path runsDir, String runId, String runConf, Clock clock) throws IOException {
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
    return new RunDirectory(dir, runId, clock, false);
  }

  /**
   * Opens an existing run directory to append to it (a coordinator recovering a run after a failover). A last
   * line cut short by the previous coordinator's death is removed, so every line stays one complete record.
   */
  public static RunDirectory reopen(Path runsDir, String runId, Clock clock) throws IOException {
    Path dir = runsDir.resolve(runId);
    for (String file : new String[] {"events.jsonl", "scalars.csv", "hard_examples.jsonl"}) {
      Path path = dir.resolve(file);
      if (!Files.isRegularFile(path)) {
        throw new IOException("cannot recover run " + runId + ": " + path + " is missing");
      }
      truncatePartialLastLine(path);
    }
    return new RunDirectory(dir, runId, clock, true);
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

  /** A new event of {@code type}, stamped now, with {@code type}, {@code ts}, {@code ts_unix_ns} and {@code run_id}. */
  public ObjectNode event(String type) {
    Instant now = clock.instant();
    return event(type, now.getEpochSecond() * 1_000_000_000L + now.getNano());
  }

  private ObjectNode event(String type, long tsUnixNs) {
    ObjectNode node = JSON.createObjectNode();
    node.put("type", type);
    node.put("ts", DateTimeFormatter.ISO_INSTANT.format(Instant.ofEpochSecond(0, tsUnixNs)));
    node.put("ts_unix_ns", tsUnixNs);
    node.put("run_id", runId);
    return node;
  }

  /** Appends an event to {@code events.jsonl}. Lifecycle events are flushed at once. */
  public void write(ObjectNode event) {
    writeLine(events, event);
  }

  /** Appends a worker's telemetry event to {@code events.jsonl} and, for steps and evaluations, to {@code scalars.csv}. */
  public void telemetry(String workerId, TelemetryEvent event) {
    try {
      if (event instanceof TelemetryEvent.Step step) {
        ObjectNode node = workerEvent("step", step, workerId);
        node.put("step", step.step());
        node.put("epoch", step.epoch());
        node.put("loss", step.loss());
        node.put("lr", step.lr());
        node.put("samples_per_s", step.samplesPerSec());
        appendLine(events, node);
        scalarsRow(step.step(), step.epoch(), workerId, step.shard(), "train", step.loss(), step.lr(),
            step.samplesPerSec(), Float.NaN, step.tsUnixNs());
      } else if (event instanceof TelemetryEvent.Epoch epoch) {
        ObjectNode node = workerEvent("epoch", epoch, workerId);
        node.put("step", epoch.step());
        node.put("epoch", epoch.epoch());
        node.put("mean_loss", epoch.meanLoss());
        appendLine(events, node);
      } else if (event instanceof TelemetryEvent.Eval eval) {
        ObjectNode node = workerEvent("eval", eval, workerId);
        node.put("step", eval.step());
        node.put("epoch", eval.epoch());
        node.put("split", "val");
        node.put("val_loss", eval.valLoss());
        node.put("val_accuracy", eval.valAccuracy());
        appendLine(events, node);
        scalarsRow(eval.step(), eval.epoch(), workerId, eval.shard(), "val", eval.valLoss(), Float.NaN, Float.NaN,
            eval.valAccuracy(), eval.tsUnixNs());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write telemetry to " + dir, e);
    }
  }

  private ObjectNode workerEvent(String type, TelemetryEvent event, String workerId) {
    ObjectNode node = event(type, event.tsUnixNs());
    node.put("worker_id", workerId);
    node.put("shard", event.shard());
    return node;
  }

  private void scalarsRow(long step, int epoch, String workerId, int shard, String split, float loss, float lr,
      float samplesPerSec, float accuracy, long tsUnixNs) throws IOException {
    StringBuilder row = new StringBuilder(96)
        .append(step).append(',')
        .append(epoch).append(',')
        .append(workerId).append(',')
        .append(shard).append(',')
        .append(split).append(',')
        .append(csv(loss)).append(',')
        .append(csv(lr)).append(',')
        .append(csv(samplesPerSec)).append(',')
        .append(csv(accuracy)).append(',')
        .append(tsUnixNs).append('\n');
    scalars.append(row);
  }

  private static String csv(float value) {
    return Float.isNaN(value) ? "" : Float.toString(value);
  }

  /** Appends one merge record to {@code hard_examples.jsonl}. */
  public void merge(ObjectNode record) {
    writeLine(hardExamples, record);
  }

  /** A new JSON object for a record. */
  public ObjectNode object() {
    return JSON.createObjectNode();
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
