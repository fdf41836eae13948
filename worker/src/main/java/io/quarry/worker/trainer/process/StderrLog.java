package io.quarry.worker.trainer.process;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies a program's stderr to the shard's log file ({@code <run dir>/logs/<shard>.log}, appended across attempts)
 * on its own daemon thread, and keeps the last lines for a failure message. A log file that cannot be written is
 * warned about once; stderr is still drained so the program never blocks on a full pipe.
 */
final class StderrLog implements AutoCloseable {
  static final int TAIL_LINES = 20;
  private static final Logger LOG = LoggerFactory.getLogger(StderrLog.class);

  private final Path file;
  private final Writer writer;
  private final ArrayDeque<String> tail = new ArrayDeque<>(TAIL_LINES);
  private Thread pump;

  private StderrLog(Path file, Writer writer) {
    this.file = file;
    this.writer = writer;
  }

  /** Opens {@code file} for appending (creating its directory) and writes {@code header} as the attempt's first line. */
  static StderrLog open(Path file, String header) {
    Writer writer = null;
    try {
      Files.createDirectories(file.getParent());
      writer = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      writer.write(header);
      writer.write('\n');
      writer.flush();
    } catch (IOException e) {
      LOG.warn("cannot write the program's stderr to {}: {}; its last lines are still kept for failure messages", file, e.toString());
      writer = null;
    }
    return new StderrLog(file, writer);
  }

  /** The log file. */
  Path file() {
    return file;
  }

  /** Starts copying {@code stderr} on a daemon thread called {@code threadName}. */
  void pump(InputStream stderr, String threadName) {
    pump = new Thread(() -> copy(stderr), threadName);
    pump.setDaemon(true);
    pump.start();
  }

  private void copy(InputStream stderr) {
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(stderr, StandardCharsets.UTF_8))) {
      String line;
      while ((line = reader.readLine()) != null) {
        synchronized (this) {
          if (tail.size() == TAIL_LINES) tail.removeFirst();
          tail.addLast(line);
          write(line);
        }
      }
    } catch (IOException e) {
      // The pipe closed under us (the program was killed): what was read is kept.
    }
  }

  /** Appends a line of Quarry's own (an attempt's outcome) to the log file. */
  synchronized void note(String line) {
    write(line);
  }

  /** The last stderr lines, oldest first. */
  synchronized List<String> tail() {
    return List.copyOf(tail);
  }

  /** Waits up to {@code waitMs} for the program's stderr to end (so the tail is complete). */
  void awaitEnd(long waitMs) throws InterruptedException {
    if (pump != null) pump.join(Math.max(1, waitMs));
  }

  private void write(String line) {
    if (writer == null) return;
    try {
      writer.write(line);
      writer.write('\n');
      // Flushed per line so `tail -f` shows a running program's errors; stderr is low volume.
      writer.flush();
    } catch (IOException e) {
      // Keep the tail; the file is best effort once it was opened.
    }
  }

  @Override
  public synchronized void close() {
    if (writer == null) return;
    try {
      writer.close();
    } catch (IOException e) {
      // Nothing more to write.
    }
  }
}
