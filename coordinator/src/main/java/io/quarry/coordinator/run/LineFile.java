package io.quarry.coordinator.run;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file of lines that only grows, one of a run directory's: an append adds whole lines or, when it fails (a full
 * disk), nothing, so the file never holds a line cut short and a later append may still succeed.
 */
public interface LineFile extends Closeable {
  /** Appends {@code lines} (complete lines, each ending in a newline); on failure the file is as it was. */
  void append(byte[] lines) throws IOException;

  /** Releases the file. Does not throw: every append is already in the file. */
  @Override
  void close();

  /** Opens a run directory's files. Tests substitute one whose files fail on demand. */
  @FunctionalInterface
  interface Opener {
    /** Opens {@code file}, which exists when {@code existing} (appended to) and does not otherwise (created). */
    LineFile open(Path file, boolean existing) throws IOException;
  }

  /** Files on disk. */
  Opener DISK = Channel::open;

  /**
   * A file on disk, written with positional writes after its last complete line: a write that fails part-way is
   * cut off again (truncating frees space, so it works on a full disk too).
   */
  final class Channel implements LineFile {
    private final FileChannel channel;
    /** The length of the file's complete lines: where the next append goes. */
    private long end;

    private Channel(FileChannel channel, long end) {
      this.channel = channel;
      this.end = end;
    }

    static Channel open(Path file, boolean existing) throws IOException {
      FileChannel channel = existing
          ? FileChannel.open(file, StandardOpenOption.WRITE)
          : FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW);
      return new Channel(channel, channel.size());
    }

    @Override
    public void append(byte[] lines) throws IOException {
      ByteBuffer buffer = ByteBuffer.wrap(lines);
      long position = end;
      try {
        while (buffer.hasRemaining()) position += channel.write(buffer, position);
      } catch (IOException e) {
        try {
          channel.truncate(end);
        } catch (IOException cutFailed) {
          e.addSuppressed(cutFailed);
        }
        throw e;
      }
      end = position;
    }

    @Override
    public void close() {
      try {
        channel.close();
      } catch (IOException e) {
        // Nothing is buffered here: every append reached the file, or failed and was reported.
      }
    }
  }
}
