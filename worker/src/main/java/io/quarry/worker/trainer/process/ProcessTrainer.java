package io.quarry.worker.trainer.process;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.trainer.ShardResult;
import io.quarry.worker.trainer.Trainer;
import io.quarry.worker.trainer.TrainerContext;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trainer that runs a program ({@code trainer = process}, {@code process.command}) for each shard attempt
 * and follows it through its stdout; see {@link ProgramOutput} for what it understands and examples/README.md
 * for the protocol a program speaks.
 *
 * <p>Threads: a daemon reader thread per stream. The stdout reader only queues lines (a bounded queue, so a
 * program that prints faster than Quarry consumes is slowed by its own pipe); this training thread takes them,
 * talks to the context, and between lines watches for a stop (every {@value #POLL_MS} ms), for silence
 * ({@code process.hang-timeout}) and for the program's exit. stderr goes to {@code <run dir>/logs/<shard>.log}.
 *
 * <p>Endings: exit 0 completes the shard; any other exit code fails the attempt (the retry policy applies) with a
 * message naming the command, the code and the last stderr lines; silence for {@code process.hang-timeout} kills
 * the program and fails the attempt; a stop sends SIGTERM to the program and its descendants, then SIGKILL to
 * whatever is left after {@code process.grace}, reads what the program printed until it ended, and returns a stopped
 * result.
 */
public final class ProcessTrainer implements Trainer {
  /** The {@code trainer} key value that selects this trainer. */
  public static final String NAME = "process";
  /** How often the training thread looks at the stop flag while the program is quiet. */
  static final long POLL_MS = 10;
  /**
   * How long stdout may stay open after the program exited or was stopped (a leftover child holding the pipe) before
   * we stop reading.
   */
  static final long DRAIN_AFTER_EXIT_MS = 2_000;

  private static final Logger LOG = LoggerFactory.getLogger(ProcessTrainer.class);
  private static final int QUEUED_LINES = 1024;
  /** How often the stdout reader takes what the program wrote (the pipe holds 64 KiB meanwhile). */
  static final long READ_TICK_MS = 10;
  /** Large enough that one tick's lines are read in one go. */
  private static final int READ_BUFFER_CHARS = 64 * 1024;
  // Identity-compared end-of-stream marker: never equal to a line the program printed.
  @SuppressWarnings("StringOperationCanBeSimplified")
  private static final String END_OF_STDOUT = new String("<end of stdout>");

  private final RunConfig config;
  private final ProcessSettings process;

  public ProcessTrainer(RunConfig config) {
    this.process = ProcessSettings.of(config);
    if (process.command().isEmpty()) {
      throw new IllegalArgumentException("config key 'process.command' is empty; trainer = process needs the program to run");
    }
    this.config = config;
  }

  /** {@code <run dir>/logs/<shard>.log}, the run dir being three levels above {@code <run dir>/checkpoints/<shard>/attempt-<n>}. */
  static Path logFile(Path checkpointDir, int shard) {
    Path runDir = checkpointDir.toAbsolutePath();
    for (int i = 0; i < 3 && runDir.getParent() != null; i++) runDir = runDir.getParent();
    return runDir.resolve("logs").resolve(shard + ".log");
  }

  @Override
  public ShardResult train(TrainerContext context) throws Exception {
    ShardAssignment assignment = context.assignment();
    String where = "shard " + assignment.shard() + " attempt " + assignment.attempt() + " of run " + context.runId();
    ProcessBuilder builder = ProcessLaunch.builder(config, context);
    List<String> command = builder.command();
    Duration hangTimeout = process.hangTimeout();
    Duration grace = process.grace();
    ProgramOutput output = new ProgramOutput(context, process.metrics());

    try (StderrLog stderr = StderrLog.open(logFile(context.checkpointDir(), assignment.shard()),
        "=== " + Instant.now() + " " + where + " on worker " + context.workerId() + ": " + command + " ===")) {
      Process process;
      try {
        process = builder.start();
      } catch (IOException e) {
        String dir = builder.directory() == null ? "the worker's working directory" : builder.directory().toString();
        throw new ProcessTrainerException("cannot start process.command " + command + " in " + dir + ": " + e.getMessage(), e);
      }
      process.getOutputStream().close();
      String threadSuffix = context.runId() + "-" + assignment.shard() + "-" + assignment.attempt();
      stderr.pump(process.getErrorStream(), "quarry-process-stderr-" + threadSuffix);
      StdoutReader stdout = new StdoutReader(process, "quarry-process-stdout-" + threadSuffix);

      Ending ending;
      try {
        ending = follow(process, stdout, output, context, hangTimeout);
      } catch (InterruptedException e) {
        stdout.abandoned = true;
        terminate(process, Duration.ZERO);
        throw e;
      }
      boolean killed = (ending == Ending.STOPPED || ending == Ending.SILENT) && terminate(process, grace);
      try {
        drain(stdout, output, ending == Ending.EXITED ? 0 : DRAIN_AFTER_EXIT_MS);
      } finally {
        stdout.abandoned = true;
      }
      stderr.awaitEnd(ending == Ending.EXITED ? 1_000 : 200);

      long unparsed = output.unparsedLines();
      if (unparsed > 0) {
        LOG.warn("{}: {} stdout line(s) of {} were not understood and ignored (unparsed_lines={})", where, unparsed, command, unparsed);
      }
      ShardResult result = new ShardResult(output.lastStep() + 1, output.stepsTrained(), output.samplesTrained(),
          output.finalLoss(), ending == Ending.STOPPED);
      switch (ending) {
        case STOPPED -> {
          stderr.note("=== stopped by " + howItEnded(process, killed, grace) + ": " + summary(output) + " ===");
          return result;
        }
        case SILENT -> {
          stderr.note("=== killed: no output for " + hangTimeout + ", " + summary(output) + " ===");
          throw new ProcessTrainerException("no output for " + describe(hangTimeout) + " (process.hang-timeout) from "
              + command + "; killed it (" + where + ", " + summary(output) + ")" + lastLines(stderr));
        }
        default -> {
          int exitCode = process.exitValue();
          stderr.note("=== exited with code " + exitCode + ": " + summary(output) + " ===");
          if (exitCode != 0) {
            throw new ProcessTrainerException("process.command " + command + " exited with code " + exitCode + " ("
                + where + ", " + summary(output) + ")" + lastLines(stderr));
          }
          return result;
        }
      }
    }
  }

  private enum Ending {
    EXITED,
    STOPPED,
    SILENT
  }

  /** Follows the program until it exits (and its stdout ends), a stop is requested, or it stays silent too long. */
  private static Ending follow(Process process, StdoutReader stdout, ProgramOutput output, TrainerContext context,
      Duration hangTimeout) throws InterruptedException {
    long hangNs = hangTimeout.toNanos();
    boolean stdoutOpen = true;
    long exitSeenNs = 0;
    while (true) {
      if (context.stopRequested()) return Ending.STOPPED;
      if (stdoutOpen) {
        String line = stdout.lines.poll(POLL_MS, TimeUnit.MILLISECONDS);
        if (line == END_OF_STDOUT) {
          stdoutOpen = false;
          continue;
        }
        if (line != null) {
          output.accept(line);
          continue;
        }
      } else if (process.waitFor(POLL_MS, TimeUnit.MILLISECONDS)) {
        return Ending.EXITED;
      }
      long now = System.nanoTime();
      if (process.isAlive()) {
        if (hangNs > 0 && now - stdout.lastLineNs > hangNs) return Ending.SILENT;
      } else if (exitSeenNs == 0) {
        exitSeenNs = now;
      } else if (now - exitSeenNs > TimeUnit.MILLISECONDS.toNanos(DRAIN_AFTER_EXIT_MS)) {
        // The program is gone but something it started still holds its stdout open: stop reading.
        return Ending.EXITED;
      }
    }
  }

  /**
   * Handles the lines not handled yet: those queued and, after a stop or a hang, those the program prints until its
   * stdout ends (a checkpoint it reports on SIGTERM still counts), waiting at most {@code waitForEndMs} for that end.
   */
  private static void drain(StdoutReader stdout, ProgramOutput output, long waitForEndMs) throws InterruptedException {
    long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitForEndMs);
    while (true) {
      long leftNs = deadlineNs - System.nanoTime();
      String line = leftNs > 0 ? stdout.lines.poll(leftNs, TimeUnit.NANOSECONDS) : stdout.lines.poll();
      if (line == null || line == END_OF_STDOUT) return;
      output.accept(line);
    }
  }

  /**
   * SIGTERM to the program and its descendants (as a terminal's Ctrl-C would reach the whole job), then SIGKILL
   * to any still alive after {@code grace}. Descendants are collected first: once the program is gone they are
   * no longer its descendants.
   *
   * @return true when anything got SIGKILL (always, for a zero grace)
   */
  static boolean terminate(Process process, Duration grace) throws InterruptedException {
    List<ProcessHandle> tree = process.descendants().toList();
    if (grace.isZero()) {
      process.destroyForcibly();
      tree.forEach(ProcessHandle::destroyForcibly);
      return true;
    }
    // SIGTERM through the handle: Process.destroy() would also close our ends of the program's stdout and stderr,
    // so a program that reports its last checkpoint or logs on SIGTERM would die of SIGPIPE (or get EPIPE).
    process.toHandle().destroy();
    tree.forEach(ProcessHandle::destroy);
    long deadlineNs = System.nanoTime() + grace.toNanos();
    while (System.nanoTime() < deadlineNs && (process.isAlive() || tree.stream().anyMatch(ProcessHandle::isAlive))) {
      Thread.sleep(POLL_MS);
    }
    List<ProcessHandle> left = tree.stream().filter(ProcessHandle::isAlive).toList();
    boolean killed = process.isAlive() || !left.isEmpty();
    if (process.isAlive()) process.destroyForcibly();
    left.forEach(ProcessHandle::destroyForcibly);
    process.waitFor(1, TimeUnit.SECONDS);
    return killed;
  }

  /**
   * How a stopped program ended, for its log: whether SIGTERM sufficed or SIGKILL followed after the grace (a program
   * that saves its state on SIGTERM needs to know), and its exit code (128 + the signal when a signal ended it).
   */
  private static String howItEnded(Process process, boolean killed, Duration grace) {
    String exit = process.isAlive() ? "still running" : "exit code " + process.exitValue();
    return killed
        ? "SIGTERM, then SIGKILL after process.grace " + describe(grace) + " (" + exit + ")"
        : "SIGTERM (" + exit + ")";
  }

  private static String summary(ProgramOutput output) {
    return "steps " + output.stepsTrained() + ", last step " + output.lastStep() + ", unparsed_lines=" + output.unparsedLines();
  }

  private static String lastLines(StderrLog stderr) {
    List<String> tail = stderr.tail();
    if (tail.isEmpty()) return "; no stderr output";
    return "; last stderr (" + stderr.file() + "): " + String.join(" | ", tail.subList(Math.max(0, tail.size() - 5), tail.size()));
  }

  private static String describe(Duration duration) {
    return duration.toMillis() % 1000 == 0 ? duration.toSeconds() + "s" : duration.toMillis() + "ms";
  }

  /** Reads stdout on a daemon thread into a bounded queue, and notes when the last line arrived. */
  private static final class StdoutReader {
    final BlockingQueue<String> lines = new ArrayBlockingQueue<>(QUEUED_LINES);
    volatile long lastLineNs = System.nanoTime();
    /** Set once the training thread has stopped taking lines, so a reader waiting on a full queue gives up. */
    volatile boolean abandoned;

    StdoutReader(Process process, String threadName) {
      Thread thread = new Thread(() -> read(process), threadName);
      thread.setDaemon(true);
      thread.start();
    }

    private void read(Process process) {
      try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8),
          READ_BUFFER_CHARS)) {
        String line;
        while (true) {
          // Lines are taken in bursts, once a tick: a blocking read would wake this thread for every line a rank
          // flushes, and each wake-up can preempt the rank (or the rank a DDP group waits for) on a busy host.
          if (!reader.ready() && process.isAlive()) {
            Thread.sleep(READ_TICK_MS);
            continue;
          }
          if ((line = reader.readLine()) == null) break;
          lastLineNs = System.nanoTime();
          if (!enqueue(line)) return;
        }
      } catch (IOException e) {
        // The pipe closed under us (the program was killed): the end of stdout all the same.
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      try {
        enqueue(END_OF_STDOUT);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    private boolean enqueue(String line) throws InterruptedException {
      while (!lines.offer(line, 100, TimeUnit.MILLISECONDS)) {
        if (abandoned) return false;
      }
      return true;
    }
  }

  @Override
  public String toString() {
    return "ProcessTrainer" + process.command();
  }
}
