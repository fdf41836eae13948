package io.quarry.worker;

import io.quarry.protocol.ParameterChunks;
import java.util.BitSet;
import java.util.concurrent.CompletableFuture;

/**
 * One averaging round a trainer waits for: the worker actor assembles the average's chunks into it as they arrive,
 * the training thread waits on {@link #result()}. The result is the average, {@code null} when the trainer is to go on
 * from its own parameters ({@link #noAverage}: why), or an {@link IllegalStateException} when the run refused them.
 * Only the actor thread calls the methods that change it.
 */
final class PendingAverage {
  private final long round;
  private final int length;
  private final float[] values;
  private final BitSet received = new BitSet();
  private final CompletableFuture<float[]> result = new CompletableFuture<>();
  private volatile String noAverage;

  PendingAverage(long round, int length) {
    this.round = round;
    this.length = length;
    this.values = new float[length];
  }

  long round() {
    return round;
  }

  CompletableFuture<float[]> result() {
    return result;
  }

  /** Why the result is {@code null}. */
  String noAverage() {
    return noAverage;
  }

  /** One chunk of the average; the result completes with the last one. */
  void accept(int chunk, int chunks, int totalLength, float[] average) {
    if (result.isDone()) return;
    if (totalLength != length) {
      result.completeExceptionally(new IllegalStateException("the run's average for round " + round + " has "
          + totalLength + " parameters, this shard's model has " + length
          + " (every shard of a run must train the same model)"));
      return;
    }
    if (chunks != ParameterChunks.count(length) || chunk < 0 || chunk >= chunks
        || average.length != ParameterChunks.length(length, chunk)) {
      result.completeExceptionally(new IllegalStateException("malformed chunk " + chunk + " of " + chunks
          + " (" + average.length + " values) of the run's average for round " + round + " of " + length + " parameters"));
      return;
    }
    if (received.get(chunk)) return;
    System.arraycopy(average, 0, values, ParameterChunks.start(chunk), average.length);
    received.set(chunk);
    if (received.cardinality() == chunks) result.complete(values);
  }

  /** The run has no average for this round: fail the trainer when {@code fatal}, else it keeps its own parameters. */
  void fail(String reason, boolean fatal) {
    if (fatal) {
      result.completeExceptionally(new IllegalStateException(reason));
    } else {
      noAverage = reason;
      result.complete(null);
    }
  }

  /** A stop was requested: the trainer stops waiting. */
  void cancel() {
    fail("a stop was requested", false);
  }
}
