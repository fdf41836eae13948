package io.quarry.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a short command of the test host ({@code ip}, {@code kill}) and says exactly what went wrong when it fails. */
final class HostCommands {
  private HostCommands() {}

  /** A command that exited with something other than 0, or could not be started at all. */
  static final class Failed extends RuntimeException {
    Failed(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** Runs {@code command}, waits up to 20 s for it, and returns its output; throws {@link Failed} unless it exits 0. */
  static String run(List<String> command) {
    Process process;
    try {
      process = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new Failed("cannot run `" + String.join(" ", command) + "`: " + e.getMessage(), e);
    }
    try {
      process.getOutputStream().close();
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new Failed("`" + String.join(" ", command) + "` did not end within 20 s", null);
      }
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (process.exitValue() != 0) {
        throw new Failed("`" + String.join(" ", command) + "` exited with " + process.exitValue() + ": " + output, null);
      }
      return output;
    } catch (IOException e) {
      throw new Failed("`" + String.join(" ", command) + "`: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new Failed("interrupted while running `" + String.join(" ", command) + "`", e);
    }
  }
}
