package io.quarry.coordinator.http.dashboard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Follows a file that another process appends lines to (a run's {@code events.jsonl}, {@code scalars.csv}): each
 * {@link #read} hands over the complete lines written since the last one and keeps a line still being written for
 * next time. A file that does not exist yet reads as empty; a file that shrank (rewritten) is read again from its
 * start, and {@link #read} says so.
 */
final class LineTail {
  /** Receives one complete line: {@code bytes[start, end)}, without its newline, starting at {@code offset}. */
  interface Sink {
    void line(byte[] bytes, int start, int end, long offset);
  }

  private static final int CHUNK_BYTES = 1 << 20;

  private final Path file;
  private long offset;

  LineTail(Path file) {
    this.file = file;
  }

  /** Where the next unread line starts: the bytes before it have been handed over. */
  long offset() {
    return offset;
  }

  /**
   * Hands every complete line written since the last call to {@code sink}, in order. Returns false when the file
   * was found shorter than what was read (it was replaced): the caller should forget what it read; reading then
   * starts again from the top on the next call.
   */
  boolean read(Sink sink) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = channel.size();
      if (size < offset) {
        offset = 0;
        return false;
      }
      byte[] pending = new byte[0];
      ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, Math.max(1, size - offset)));
      long position = offset;
      long pendingOffset = offset;
      while (position < size) {
        chunk.clear();
        int read = channel.read(chunk, position);
        if (read <= 0) break;
        position += read;
        byte[] bytes;
        int length;
        if (pending.length == 0) {
          bytes = chunk.array();
          length = read;
        } else {
          bytes = Arrays.copyOf(pending, pending.length + read);
          System.arraycopy(chunk.array(), 0, bytes, pending.length, read);
          length = bytes.length;
        }
        int lineStart = 0;
        for (int i = 0; i < length; i++) {
          if (bytes[i] == '\n') {
            int end = i > lineStart && bytes[i - 1] == '\r' ? i - 1 : i;
            if (end > lineStart) sink.line(bytes, lineStart, end, pendingOffset + lineStart);
            lineStart = i + 1;
          }
        }
        pendingOffset += lineStart;
        pending = Arrays.copyOfRange(bytes, lineStart, length);
      }
      offset = pendingOffset;
      return true;
    } catch (NoSuchFileException e) {
      return true;
    }
  }

  /** The bytes of one line handed over earlier: {@code length} bytes at {@code at}. */
  static byte[] readAt(Path file, long at, int length) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer buffer = ByteBuffer.allocate(length);
      while (buffer.hasRemaining()) {
        if (channel.read(buffer, at + buffer.position()) < 0) break;
      }
      return Arrays.copyOf(buffer.array(), buffer.position());
    }
  }
}
