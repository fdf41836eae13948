package io.quarry.deploy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A small tmpfs a test mounts and unmounts itself: a disk that really fills. It needs root (the test command runs as
 * root in CI); a test that cannot mount one fails, it is not skipped.
 */
final class Tmpfs implements AutoCloseable {
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

  /** Fills the disk but for about {@code leaveBytes}: one file of zeros, written until the disk says it is full. */
  public Path fill(long leaveBytes) throws IOException {
    Path filler = dir.resolve("filler");
    long free = Files.getFileStore(dir).getUsableSpace();
    byte[] chunk = new byte[4096];
    try (var out = Files.newOutputStream(filler)) {
      for (long written = 0; written + chunk.length <= free - leaveBytes; written += chunk.length) out.write(chunk);
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
