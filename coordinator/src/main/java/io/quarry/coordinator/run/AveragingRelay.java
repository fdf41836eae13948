package io.quarry.coordinator.run;

import io.quarry.protocol.ParameterChunks;
import io.quarry.protocol.WorkerCommand;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * The run's side of parameter averaging ({@code sync.mode = average}) as plain logic: it feeds the shards' chunks and
 * lifecycle changes to {@link SyncRounds} and turns what the rounds answer into the messages for the workers — an
 * average cut into {@link ParameterChunks} once per round however many shards receive it, or why there is none.
 *
 * @param <A> where a shard attempt's answers go (the worker's actor ref; anything in tests)
 */
public final class AveragingRelay<A> {
  /** One message for one shard attempt's worker. */
  public record Delivery<A>(A to, WorkerCommand message) {}

  /**
   * What one call leads to.
   *
   * @param deliveries messages to send, in order
   * @param completed rounds completed (for their events and counters; their timeouts can be cancelled)
   * @param opened a round that opened (its timeout must start)
   */
  public record Outcome<A>(List<Delivery<A>> deliveries, List<SyncRounds.Completed> completed, OptionalLong opened) {}

  private final long incarnation;
  private final String runId;
  private final SyncRounds<A> rounds;

  /**
   * @param incarnation the coordinator's, carried by every answer
   * @param nanoClock {@link System#nanoTime} in the run; anything monotonic in tests
   */
  public AveragingRelay(long incarnation, String runId, LongSupplier nanoClock) {
    this.incarnation = incarnation;
    this.runId = runId;
    this.rounds = new SyncRounds<>(nanoClock);
  }

  /**
   * One chunk of a shard attempt's parameters (the caller passes only chunks of attempts it follows).
   *
   * @param active the shards a round opened now waits for
   */
  public Outcome<A> contribute(int shard, int attempt, A replyTo, long round, int chunk, int chunks, int totalLength,
      float[] values, Set<Integer> active) {
    return relay(rounds.contribute(shard, attempt, replyTo, round, chunk, chunks, totalLength, values, active));
  }

  /** Round {@code round}'s {@code sync.timeout} has passed. */
  public Outcome<A> timeOut(long round) {
    return relay(rounds.timeOut(round));
  }

  /** The shard's attempt ended ({@code finished}: it completed) or was given up on: no round waits for it. */
  public Outcome<A> leave(int shard, boolean finished) {
    return relay(rounds.leave(shard, finished));
  }

  private Outcome<A> relay(SyncRounds.Outcome<A> outcome) {
    List<Delivery<A>> deliveries = new ArrayList<>();
    // One average goes to every shard of its round: cut it into chunks once (receivers only read them).
    Map<float[], float[][]> cut = new IdentityHashMap<>();
    for (SyncRounds.Answer<A> answer : outcome.answers()) {
      if (answer.average() == null) {
        deliveries.add(new Delivery<>(answer.replyTo(), new WorkerCommand.AveragingFailed(incarnation, runId,
            answer.shard(), answer.attempt(), answer.round(), answer.error(), answer.fatal())));
        continue;
      }
      float[] average = answer.average();
      float[][] chunks = cut.computeIfAbsent(average, ParameterChunks::cut);
      for (int chunk = 0; chunk < chunks.length; chunk++) {
        deliveries.add(new Delivery<>(answer.replyTo(), new WorkerCommand.AveragedChunk(incarnation, runId,
            answer.shard(), answer.attempt(), answer.round(), answer.contributors(), chunk, chunks.length,
            average.length, chunks[chunk])));
      }
    }
    return new Outcome<>(List.copyOf(deliveries), outcome.completed(), outcome.opened());
  }

  /**
   * Whether a completed round is worth an event in fast mode too, and a warning: a shard was missing from it, or it
   * had no average.
   */
  public static boolean notable(SyncRounds.Completed round) {
    return !round.missing().isEmpty() || !round.averaged();
  }
}
