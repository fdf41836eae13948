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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trainer that runs a program ({@code trainer = process}, {@code process.command}) for each shard attempt
 * and follows it through its stdout; see {@link ProgramOutput} for what it understands and examples/README.md
 * for the protocol a program speaks.
 *
 * <p>Threads: a daemon reader thread per stream. The stdout reader takes what the program wrote once every
 * {@value #READ_TICK_MS} ms and hands each line to {@link ProgramOutput} itself (so a program that prints faster
 * than Quarry handles its lines is slowed by its own pipe); this training thread only watches, every
 * {@value #WATCH_MS} ms, for a stop, for silence ({@code process.hang-timeout}) and for the program's exit, and takes
 * the output over from the reader when the attempt ends. Few wake-ups per step is the point: on a host whose cores
 * the programs fill (a DDP group), every wake-up of a JVM thread can preempt a rank that the others then wait for.
 * stderr goes to {@code <run dir>/logs/<shard>.log}.
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
  /** How often the training thread looks at the stop flag, the program's silence and its exit. */
  static final long WATCH_MS = 50;
  /** How often a stop waits for the program to go, within {@code process.grace}. */
  static final long POLL_MS = 10;
  /**
   * How long stdout may stay open after the program exited or was stopped (a leftover child holding the pipe) before
   * we stop reading.
   */
  static final long DRAIN_AFTER_EXIT_MS = 2_000;

  private static final Logger LOG = LoggerFactory.getLogger(ProcessTrainer.class);
  /** How often the stdout reader takes what the program wrote (the pipe holds 64 KiB meanwhile). */
  static final long READ_TICK_MS = 10;
  /** Large enough that one tick's lines are read in one go. */
  private static final int READ_BUFFER_CHARS = 64 * 1024;

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
        process = ProgramsFirst.start(builder);
      } catch (IOException e) {
        String dir = builder.directory() == null ? "the worker's working directory" : builder.directory().toString();
        throw new ProcessTrainerException("cannot start process.command " + command + " in " + dir + ": " + e.getMessage(), e);
      }
      process.getOutputStream().close();
      String threadSuffix = context.runId() + "-" + assignment.shard() + "-" + assignment.attempt();
      stderr.pump(process.getErrorStream(), "quarry-process-stderr-" + threadSuffix);
      StdoutReader stdout = new StdoutReader(process, output, "quarry-process-stdout-" + threadSuffix);

      Ending ending;
      try {
        ending = follow(process, stdout, context, hangTimeout);
      } catch (InterruptedException e) {
        stdout.abandon();
        terminate(process, Duration.ZERO);
        throw e;
      }
      boolean killed = ending != Ending.EXITED && terminate(process, grace);
      try {
        // After a stop or a hang, what the program prints until its stdout ends still counts (a checkpoint it
        // reports on SIGTERM).
        if (ending != Ending.EXITED) stdout.awaitEnd(DRAIN_AFTER_EXIT_MS);
      } finally {
        stdout.abandon();
      }
      stderr.awaitEnd(ending == Ending.EXITED ? 1_000 : 200);
      if (stdout.failure() != null) {
        throw new ProcessTrainerException("handling the output of " + command + " failed (" + where + ", "
            + summary(output) + "): " + stdout.failure(), stdout.failure());
      }

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
    SILENT,
    /** Handling a line failed (a bug of Quarry's, not the program's): the program is stopped. */
    BROKEN
  }

  /** Watches the program until it exits (and its stdout ends), a stop is requested, or it stays silent too long. */
  private static Ending follow(Process process, StdoutReader stdout, TrainerContext context, Duration hangTimeout)
      throws InterruptedException {
    long hangNs = hangTimeout.toNanos();
    long exitSeenNs = 0;
    while (true) {
      if (context.stopRequested()) return Ending.STOPPED;
      if (stdout.failure() != null) return Ending.BROKEN;
      if (stdout.awaitEnd(WATCH_MS)) {
        if (stdout.failure() != null) return Ending.BROKEN;
        if (process.waitFor(WATCH_MS, TimeUnit.MILLISECONDS)) return Ending.EXITED;
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

  /**
   * Reads stdout on a daemon thread and hands each line to the program's output on that thread, until stdout ends or
   * the training thread takes the output over ({@link #abandon}); notes when the last line arrived.
   */
  private static final class StdoutReader {
    private final ProgramOutput output;
    private final CountDownLatch ended = new CountDownLatch(1);
    volatile long lastLineNs = System.nanoTime();
    private volatile RuntimeException failure;
    /** Guarded by this: once set, the output is the training thread's and no line reaches it from here. */
    private boolean abandoned;

    StdoutReader(Process process, ProgramOutput output, String threadName) {
      this.output = output;
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
          if (!handle(line)) return;
        }
      } catch (IOException e) {
        // The pipe closed under us (the program was killed): the end of stdout all the same.
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        failure = e;
      } finally {
        ended.countDown();
      }
    }

    private synchronized boolean handle(String line) {
      if (abandoned) return false;
      output.accept(line);
      return true;
    }

    /** Waits up to {@code ms} for the end of stdout (or of its reading, on a failure); true once it has ended. */
    boolean awaitEnd(long ms) throws InterruptedException {
      return ended.await(ms, TimeUnit.MILLISECONDS);
    }

    /** The exception handling a line threw, or null; reading stopped there. */
    RuntimeException failure() {
      return failure;
    }

    /** From now on no line reaches the output from this thread: the output is the caller's. */
    synchronized void abandon() {
      abandoned = true;
    }
  }

  @Override
  public String toString() {
    return "ProcessTrainer" + process.command();
  }
}
