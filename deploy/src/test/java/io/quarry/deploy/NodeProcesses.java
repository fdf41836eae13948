package io.quarry.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Quarry nodes as separate JVMs for multi-process tests: each runs {@code QuarryCli} from the test class path,
 * logs to its own file, and is killed with SIGKILL on request and always on close. A node may be started behind a
 * command prefix (another host: {@code ip netns exec NS}, see {@link NetNamespace}) and paused with SIGSTOP (a long
 * GC pause) and continued.
 */
final class NodeProcesses implements AutoCloseable {
  private final Path logDir;
  private final Map<String, Process> processes = new LinkedHashMap<>();
  private final List<String> jvmOptions = new ArrayList<>();

  NodeProcesses(Path logDir) {
    this.logDir = logDir;
    try {
      Files.createDirectories(logDir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Adds JVM options for the nodes started from now on. */
  NodeProcesses withJvmOptions(String... options) {
    jvmOptions.addAll(List.of(options));
    return this;
  }

  /** Starts {@code quarry <args>} in a new JVM called {@code name}. */
  Process start(String name, Map<String, String> env, String... args) {
    return start(name, List.of(), null, env, args);
  }

  /** Starts {@code quarry <args>} in a new JVM called {@code name}, inside {@code host} (its network namespace). */
  Process start(String name, NetNamespace host, Map<String, String> env, String... args) {
    return start(name, host.commandPrefix(), null, env, args);
  }

  Process start(String name, Path workDir, Map<String, String> env, String... args) {
    return start(name, List.of(), workDir, env, args);
  }

  /**
   * Starts {@code quarry <args>} in a new JVM called {@code name}, behind {@code commandPrefix} (a command that runs
   * the rest, as {@code ip netns exec NS} does, so that the JVM is the process started or what it execs), in
   * {@code workDir} (null: this JVM's), with {@code env} over this JVM's environment and {@code QUARRY_LOG_LEVEL=INFO}
   * unless {@code env} sets it.
   */
  Process start(String name, List<String> commandPrefix, Path workDir, Map<String, String> env, String... args) {
    if (processes.containsKey(name)) throw new IllegalArgumentException("a node called " + name + " was started already");
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> command = new ArrayList<>(commandPrefix);
    command.addAll(List.of(java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED"));
    command.addAll(jvmOptions);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), QuarryCli.class.getName()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(log(name).toFile());
    if (workDir != null) builder.directory(workDir.toFile());
    builder.environment().put("QUARRY_LOG_LEVEL", "INFO");
    builder.environment().putAll(env);
    try {
      Process process = builder.start();
      processes.put(name, process);
      return process;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start node " + name, e);
    }
  }

  Path log(String name) {
    return logDir.resolve(name + ".log");
  }

  /** The process id of the node's JVM. */
  long pid(String name) {
    return process(name).pid();
  }

  /** Stops the node's JVM with SIGSTOP, as a long GC pause would: it neither runs nor answers until {@link #resume}. */
  void pause(String name) throws InterruptedException {
    signal(name, "STOP");
  }

  /** Continues a node's JVM stopped with {@link #pause} (SIGCONT). */
  void resume(String name) throws InterruptedException {
    signal(name, "CONT");
  }

  private void signal(String name, String signal) throws InterruptedException {
    Process process = process(name);
    if (!process.isAlive()) throw new IllegalStateException(name + " is not running: cannot send SIG" + signal);
    HostCommands.run(List.of("kill", "-" + signal, Long.toString(process.pid())));
  }

  private Process process(String name) {
    Process process = processes.get(name);
    if (process == null) throw new IllegalArgumentException("no node called " + name);
    return process;
  }

  /** Whether the node's JVM still runs. */
  boolean alive(String name) {
    return process(name).isAlive();
  }

  /** Kills the node with SIGKILL (no shutdown hooks, no goodbye to the cluster) and waits for it to die. */
  void kill(String name) throws InterruptedException {
    Process process = process(name);
    process.destroyForcibly();
    if (!process.waitFor(10, TimeUnit.SECONDS)) throw new IllegalStateException(name + " survived SIGKILL");
  }

  /** Waits until the node's log contains {@code text}; fails with the log's tail if it does not in time. */
  void awaitLog(String name, String text, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (logText(name).contains(text)) return;
      Process process = processes.get(name);
      if (process != null && !process.isAlive()) {
        throw new AssertionError(name + " exited (" + process.exitValue() + ") before logging '" + text + "':\n" + tail(name));
      }
      Thread.sleep(100);
    }
    throw new AssertionError(name + " did not log '" + text + "' within " + timeout + ":\n" + tail(name));
  }

  /**
   * Waits until the cluster's leader has moved node {@code name} to Up (whichever node led logs it). A fault test
   * needs this before its fault: the split-brain resolver counts only Up members, so a node still Joining when another
   * is lost can leave the side that should win without its majority (2 Up members, one lost: a tie, which keep-majority
   * breaks by address, possibly downing the coordinator).
   */
  void awaitMemberUp(String name, Duration timeout) throws InterruptedException {
    java.util.regex.Matcher at = java.util.regex.Pattern.compile("node up at (\\S+:\\d+)").matcher(logText(name));
    if (!at.find()) throw new IllegalStateException(name + " has not logged its address ('node up at HOST:PORT')");
    String movedUp = "Leader is moving node [pekko://quarry@" + at.group(1) + "] to [Up]";
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      for (String node : processes.keySet()) if (logText(node).contains(movedUp)) return;
      Thread.sleep(100);
    }
    throw new AssertionError("no node logged '" + movedUp + "' within " + timeout + ":\n" + tail(name));
  }

  String logText(String name) {
    try {
      return Files.exists(log(name)) ? Files.readString(log(name)) : "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  String tail(String name) {
    List<String> lines = logText(name).lines().toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }

  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    for (Process process : processes.values()) process.destroyForcibly();
    for (Process process : processes.values()) {
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
