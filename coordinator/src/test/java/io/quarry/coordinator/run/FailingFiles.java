package io.quarry.coordinator.run;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Run-directory files on disk that fail on demand, by file name: as a full disk does (an {@link IOException} naming
 * "No space left on device"), or with a {@link RuntimeException} (a bug: what crashes a run actor). Told
 * from a test's thread, read on the run actor's.
 */
public final class FailingFiles implements LineFile.Opener {
  /** How appends to a file fail. */
  public enum Failure {
    DISK_FULL,
    CRASH
  }

  private final Map<String, Failure> failing = new ConcurrentHashMap<>();

  /** Appends to every file called {@code fileName} fail from now on, as {@code how} says. */
  public FailingFiles fail(String fileName, Failure how) {
    failing.put(fileName, how);
    return this;
  }

  /** Appends to files called {@code fileName} succeed again (the disk has room again). */
  public void recover(String fileName) {
    failing.remove(fileName);
  }

  @Override
  public LineFile open(Path file, boolean existing) throws IOException {
    LineFile disk = LineFile.DISK.open(file, existing);
    String name = file.getFileName().toString();
    return new LineFile() {
      @Override
      public void append(byte[] lines) throws IOException {
        Failure failure = failing.get(name);
        // What FileChannel.write throws on a full disk: the OS's words, no path.
        if (failure == Failure.DISK_FULL) throw new IOException("No space left on device");
        if (failure == Failure.CRASH) throw new IllegalStateException("injected crash writing " + name);
        disk.append(lines);
      }

      @Override
      public void close() {
        disk.close();
      }
    };
  }
}
