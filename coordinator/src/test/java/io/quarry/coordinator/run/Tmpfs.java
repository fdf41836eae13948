package io.quarry.coordinator.run;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A small tmpfs a test mounts and unmounts itself: a disk that really fills. It needs root (the test command runs as
 * root in CI); a test that cannot mount one fails, it is not skipped.
 */
public final class Tmpfs implements AutoCloseable {
  private final Path dir;

  private Tmpfs(Path dir) {
    this.dir = dir;
  }

  /** Mounts a tmpfs of {@code size} (as mount's {@code size=} option says it: "1m") at a new directory under {@code parent}. */
  public static Tmpfs mount(Path parent, String size) throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory(parent, "tmpfs-");
    run(List.of("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString()), "mount a tmpfs");
    return new Tmpfs(dir);
  }

  public Path dir() {
    return dir;
  }

  /**
   * Fills the disk but for about {@code leaveBytes} (0: all of it): one file of zeros, written until that much is
   * left or the disk says it is full. The disk may be written to meanwhile (a run on it).
   */
  public Path fill(long leaveBytes) throws IOException {
    Path filler = dir.resolve("filler-" + System.nanoTime());
    byte[] chunk = new byte[4096];
    try (var out = Files.newOutputStream(filler)) {
      while (Files.getFileStore(dir).getUsableSpace() > leaveBytes) out.write(chunk);
    } catch (IOException full) {
      // No space left on device: the disk is full, as asked.
    }
    return filler;
  }

  @Override
  public void close() throws IOException, InterruptedException {
    run(List.of("umount", "-l", dir.toString()), "unmount the tmpfs");
    Files.deleteIfExists(dir);
  }

  private static void run(List<String> command, String what) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes());
    if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
      throw new IllegalStateException("cannot " + what + " (" + String.join(" ", command) + "; the test needs root): "
          + output.strip());
    }
  }
}
