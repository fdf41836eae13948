package io.quarry.worker.trainer.process;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Structure;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Programs first: a JVM that starts training programs yields the CPU to them.
 *
 * <p>On a host whose cores the programs fill (the ranks of a DDP group, one per core), each wake-up of one of this
 * JVM's threads (a burst of a program's stdout, a timer, a message) would preempt a running program at once, and a
 * DDP rank that loses its core for a moment makes every other rank wait at the next collective. So, on Linux, when
 * the first program starts here, every thread of this JVM moves to {@code SCHED_BATCH}: the same share of the CPU
 * as before, but a thread that wakes does not preempt a running one; it runs when the program next waits (a
 * collective, I/O) or at the scheduler's next tick. Threads created later inherit the policy from their creators.
 * Each program is started from a thread that is back under {@code SCHED_OTHER} for that moment, so the program and
 * everything it starts run under the normal policy (so does the JDK's "process reaper" thread created in that moment;
 * it wakes only when a program exits). No privilege is needed: a thread may always move between {@code SCHED_OTHER}
 * and {@code SCHED_BATCH} at its nice value.
 *
 * <p>{@code quarry.worker.programs-first = false} turns it off. Where it cannot be had (not Linux, no C library
 * through JNA, a refused call) it is off, said once in the log, and programs start as they would without it.
 */
public final class ProgramsFirst {
  /** Linux's scheduling policies (sched.h). */
  static final int SCHED_OTHER = 0;
  static final int SCHED_BATCH = 3;

  private static final Logger LOG = LoggerFactory.getLogger(ProgramsFirst.class);

  private static volatile boolean wanted = true;
  /** Null until the first program starts while wanted; then whether this JVM's threads are under SCHED_BATCH. */
  private static Boolean yielding;

  private ProgramsFirst() {}

  /** {@code quarry.worker.programs-first}, from a worker of this JVM. */
  public static void configure(boolean on) {
    wanted = on;
  }

  /**
   * {@code builder.start()}, with this JVM's threads under SCHED_BATCH from now on and the program under SCHED_OTHER
   * (when wanted and possible).
   */
  static Process start(ProcessBuilder builder) throws IOException {
    if (!wanted || !yielding()) return builder.start();
    // The program inherits the policy of the thread that starts it.
    boolean normal = setCallingThread(SCHED_OTHER);
    try {
      return builder.start();
    } finally {
      if (normal) setCallingThread(SCHED_BATCH);
    }
  }

  /** Whether this JVM's threads are under SCHED_BATCH (moving them there the first time). */
  static synchronized boolean yielding() {
    if (yielding == null) yielding = moveThisJvmToBatch();
    return yielding;
  }

  private static boolean moveThisJvmToBatch() {
    if (!System.getProperty("os.name", "").startsWith("Linux")) {
      LOG.info("programs first (quarry.worker.programs-first): not on {}, only on Linux; programs start as they are",
          System.getProperty("os.name"));
      return false;
    }
    Set<Integer> moved = new HashSet<>();
    try {
      // Until a pass finds no thread it had not moved: one created during a pass by a thread not yet moved is
      // still under SCHED_OTHER.
      boolean more = true;
      while (more) {
        more = false;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
          for (Path task : tasks) {
            int tid = Integer.parseInt(task.getFileName().toString());
            if (moved.contains(tid)) continue;
            try {
              LibC.INSTANCE.sched_setscheduler(tid, SCHED_BATCH, new SchedParam());
            } catch (LastErrorException e) {
              if (e.getErrorCode() != 3) throw e; // ESRCH: the thread ended meanwhile
            }
            moved.add(tid);
            more = true;
          }
        }
      }
    } catch (IOException | LinkageError | LastErrorException | NumberFormatException e) {
      LOG.warn("programs first (quarry.worker.programs-first): could not move this JVM's threads to SCHED_BATCH ({});"
          + " programs start as they are, and this JVM's threads may preempt them", e.toString());
      return false;
    }
    LOG.info("programs first (quarry.worker.programs-first): this JVM's {} threads now run under SCHED_BATCH (a waking"
        + " thread does not preempt a running program), the programs it starts under SCHED_OTHER", moved.size());
    return true;
  }

  private static boolean setCallingThread(int policy) {
    try {
      LibC.INSTANCE.sched_setscheduler(0, policy, new SchedParam());
      return true;
    } catch (LastErrorException | LinkageError e) {
      LOG.warn("programs first: could not set the policy {} of the thread that starts a program ({})", policy, e.toString());
      return false;
    }
  }

  /** The C library's scheduling calls; on Linux, pid 0 or a thread id names a single thread. */
  interface LibC extends Library {
    LibC INSTANCE = Native.load("c", LibC.class);

    int sched_setscheduler(int pid, int policy, SchedParam param) throws LastErrorException;
  }

  /** {@code struct sched_param}: the priority, 0 for SCHED_OTHER and SCHED_BATCH. */
  @Structure.FieldOrder("sched_priority")
  public static final class SchedParam extends Structure {
    public int sched_priority;
  }
}
