package io.quarry.worker.trainer.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Programs first on this (Linux) machine: the JVM's threads move to SCHED_BATCH, new threads inherit it, and a program
 * started through it, and what that program starts, run under SCHED_OTHER. The policies are read from /proc
 * ({@code stat}'s field 41), not from ProgramsFirst's own bookkeeping.
 */
class ProgramsFirstTest {
  @Test
  void theJvmsThreadsYieldAndTheProgramsRunUnderTheNormalPolicy() throws Exception {
    ProgramsFirst.configure(true);
    // A program that reports its own policy and that of a child it starts (field 41 of /proc/<pid>/stat; the
    // shell's comm has no spaces).
    ProcessBuilder builder = new ProcessBuilder("sh", "-c",
        "cut -d' ' -f41 /proc/$$/stat; sh -c 'cut -d\" \" -f41 /proc/$$/stat'");
    Process program = ProgramsFirst.start(builder);
    String out = new String(program.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(program.waitFor(30, TimeUnit.SECONDS));

    assertTrue(ProgramsFirst.yielding(), "on Linux with the C library, the JVM's threads are moved");
    assertEquals(List.of("0", "0"), out.lines().toList(), "the program and its child run under SCHED_OTHER (0)");
    assertEquals(ProgramsFirst.SCHED_BATCH, callingThreadPolicy(),
        "the thread that started the program is back under SCHED_BATCH");
    AtomicInteger newThreadPolicy = new AtomicInteger(-2);
    Thread later = new Thread(() -> newThreadPolicy.set(callingThreadPolicy()));
    later.start();
    later.join();
    assertEquals(ProgramsFirst.SCHED_BATCH, newThreadPolicy.get(), "a thread created afterwards inherits SCHED_BATCH");
  }

  /** The scheduling policy of the calling thread (field 41 of /proc/thread-self/stat); -1 where unknown. */
  private static int callingThreadPolicy() {
    try {
      String stat = Files.readString(Path.of("/proc/thread-self/stat"));
      return Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[38]);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }
}
