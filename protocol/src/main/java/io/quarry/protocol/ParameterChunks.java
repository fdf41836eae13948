package io.quarry.protocol;

/**
 * How a parameter vector is cut into chunks for an averaging round ({@code sync.mode = average}): every chunk holds
 * {@link #FLOATS_PER_CHUNK} floats but the last, in order. A vector of 10M parameters is 40 MB, far above Artery's
 * frame size, so it travels as ordinary messages of 120,000 bytes of floats each ({@link RunCommand.SyncChunk} to the run,
 * {@link WorkerCommand.AveragedChunk} back); both sides cut it the same way, so the size is fixed, not taken from
 * the frame: a chunk with its fields and envelope fits the smallest frame of a default node, aeron-udp's 128 KiB
 * (a term buffer of 1 MiB / 8), within {@link FrameBudget#HEADROOM_BYTES}. A node whose frame is smaller (a term buffer
 * under 1 MiB) cannot average parameters.
 */
public final class ParameterChunks {
  /**
   * Floats per chunk: 120,000 bytes of payload, which with the chunk's other fields stays within
   * {@link FrameBudget#messageBytes} of a 128 KiB frame (aeron-udp's default), leaving Artery's envelope its headroom.
   * (It was 32,768 floats, 128 KiB: over aeron-udp's frame with any envelope, so averaging failed there.)
   */
  public static final int FLOATS_PER_CHUNK = 30_000;

  /** The serialized bytes of a full chunk's floats; with {@link FrameBudget#HEADROOM_BYTES} it is a frame's minimum. */
  public static final int CHUNK_BYTES = 4 * FLOATS_PER_CHUNK;

  private ParameterChunks() {}

  /** How many chunks a vector of {@code length} floats takes (at least one, so an empty vector still makes a round). */
  public static int count(int length) {
    return Math.max(1, (int) ((length + (long) FLOATS_PER_CHUNK - 1) / FLOATS_PER_CHUNK));
  }

  /** The index of the first float of chunk {@code chunk}. */
  public static int start(int chunk) {
    return chunk * FLOATS_PER_CHUNK;
  }

  /** How many floats chunk {@code chunk} of a vector of {@code length} holds. */
  public static int length(int length, int chunk) {
    return Math.max(0, Math.min(FLOATS_PER_CHUNK, length - start(chunk)));
  }

  /** {@code vector} cut into its chunks, in order: copies, so the caller may change {@code vector} afterwards. */
  public static float[][] cut(float[] vector) {
    float[][] chunks = new float[count(vector.length)][];
    for (int chunk = 0; chunk < chunks.length; chunk++) {
      int start = start(chunk);
      chunks[chunk] = java.util.Arrays.copyOfRange(vector, start, start + length(vector.length, chunk));
    }
    return chunks;
  }
}
