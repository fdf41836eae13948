package io.quarry.coordinator.run;

import io.quarry.protocol.ParameterChunks;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.LongSupplier;

/**
 * The parameter-averaging rounds of one run ({@code sync.mode = average}), as plain logic; the run actor feeds it
 * chunks and lifecycle changes and sends what it answers.
 *
 * <p>A round opens with the first chunk sent for it and waits for the shards active at that moment (the run's
 * primary attempts). It keeps a running sum of the parameters that arrive, in double (the mean of N float vectors
 * then rounds once, to float), and per chunk how many shards it holds: one vector of sums per open round, never a
 * copy per shard. It completes when every shard it waits for has sent its whole vector and no other shard is half
 * way through sending, or at its timeout ({@link #timeOut}), or when the shards it still waits for leave the run's
 * active set ({@link #leave}: done, failed, stopped, lost). Every shard that sent parameters for it then gets the
 * average; a shard cut off half way counts for the chunks that arrived. A shard that sends for a round already
 * completed (it was late, or resumed from a checkpoint) gets the latest average at once, so it rejoins the others.
 * A vector of another length than the round's, or chunks out of order, are refused, and that shard's trainer fails.
 *
 * @param <A> where a shard attempt's answers go (the worker's actor ref; anything in tests)
 */
public final class SyncRounds<A> {
  /**
   * What the run sends to one shard attempt for one round: the average ({@code average} non-null, shared between
   * the answers of one round: read it, never change it) or why there is none ({@code error}; {@code fatal} when the
   * trainer must fail).
   */
  public record Answer<A>(
      A replyTo, int shard, int attempt, long round, float[] average, int contributors, String error, boolean fatal) {}

  /**
   * A completed round, for its event.
   *
   * @param contributors the shards whose whole vector is in the average
   * @param missing the shards the round waited for whose whole vector is not in it (a shard that finished its
   *     training in the meantime is not missing)
   * @param averaged false when not one vector arrived whole before the timeout, so there is no average
   */
  public record Completed(
      long round, int parameters, List<Integer> contributors, List<Integer> missing, boolean timedOut, boolean averaged,
      long wallMs) {}

  /** What a call leads to: answers to send, rounds completed, and the round opened (its timeout must start). */
  public record Outcome<A>(List<Answer<A>> answers, List<Completed> completed, OptionalLong opened) {}

  private static final class Contribution<A> {
    final int attempt;
    final A replyTo;
    int received;
    boolean refused;
    boolean left;

    Contribution(int attempt, A replyTo) {
      this.attempt = attempt;
      this.replyTo = replyTo;
    }
  }

  private static final class Round<A> {
    final long number;
    final int totalLength;
    final int chunks;
    final double[] sum;
    /** Per chunk, how many shards' values the sum holds. */
    final int[] added;
    /** The shards still waited for. */
    final Set<Integer> expected;
    /** The shards waited for at the start, less those that finished training since: the candidates for missing. */
    final Set<Integer> expectedAtOpen;
    final Map<Integer, Contribution<A>> contributions = new LinkedHashMap<>();
    final long openedNs;

    Round(long number, int totalLength, Set<Integer> expected, long openedNs) {
      this.number = number;
      this.totalLength = totalLength;
      this.chunks = ParameterChunks.count(totalLength);
      this.sum = new double[totalLength];
      this.added = new int[chunks];
      this.expected = new TreeSet<>(expected);
      this.expectedAtOpen = new TreeSet<>(expected);
      this.openedNs = openedNs;
    }

    boolean whole(Contribution<A> contribution) {
      return !contribution.refused && contribution.received == chunks;
    }

    boolean done() {
      for (int shard : expected) {
        Contribution<A> contribution = contributions.get(shard);
        if (contribution == null || !whole(contribution)) return false;
      }
      for (Contribution<A> contribution : contributions.values()) {
        if (!contribution.left && !contribution.refused && contribution.received < chunks) return false;
      }
      return true;
    }
  }

  /** Collects one call's outcome. */
  private final class Builder {
    final List<Answer<A>> answers = new ArrayList<>();
    final List<Completed> completed = new ArrayList<>();
    OptionalLong opened = OptionalLong.empty();

    Outcome<A> build() {
      return new Outcome<>(List.copyOf(answers), List.copyOf(completed), opened);
    }
  }

  private final LongSupplier nanoClock;
  private final TreeMap<Long, Round<A>> open = new TreeMap<>();
  private long lastCompleted = -1;
  private float[] latestAverage;
  private long latestAverageRound = -1;
  private int latestContributors;
  /**
   * Per shard, the attempt and round it was last answered for before its whole vector arrived (late, refused, or cut
   * off by the round's end): the rest of its chunks for that round are dropped, so it is answered once.
   */
  private final Map<Integer, long[]> answeredLate = new HashMap<>();

  /** {@code nanoClock}: {@link System#nanoTime} in the run, anything monotonic in tests (for the rounds' wall time). */
  public SyncRounds(LongSupplier nanoClock) {
    this.nanoClock = nanoClock;
  }

  /**
   * One chunk of shard {@code shard}'s vector for round {@code round}, from its current primary attempt (the caller
   * drops chunks of attempts it has given up on). {@code active}: the shards a round opened now waits for.
   */
  public Outcome<A> contribute(int shard, int attempt, A replyTo, long round, int chunk, int chunks, int totalLength,
      float[] values, Set<Integer> active) {
    Builder out = new Builder();
    if (answered(shard, attempt, round)) return out.build();
    Round<A> r = open.get(round);
    if (r == null && round <= lastCompleted) {
      late(shard, attempt, replyTo, round, totalLength, out);
      return out.build();
    }
    String problem = malformed(shard, round, chunk, chunks, totalLength, values);
    if (r == null) {
      if (problem == null && chunk != 0) {
        problem = "chunk " + chunk + " of round " + round + " from shard " + shard + " arrived before its chunk 0";
      }
      if (problem != null) {
        remember(shard, attempt, round);
        out.answers.add(new Answer<>(replyTo, shard, attempt, round, null, 0, problem, true));
        return out.build();
      }
      Set<Integer> expected = new TreeSet<>(active);
      expected.add(shard);
      r = new Round<>(round, totalLength, expected, nanoClock.getAsLong());
      open.put(round, r);
      out.opened = OptionalLong.of(round);
    }
    Contribution<A> contribution = r.contributions.get(shard);
    if (contribution != null && contribution.attempt != attempt) {
      // An earlier attempt of this shard is in the round already: this one continues from the latest average.
      late(shard, attempt, replyTo, round, totalLength, out);
      return out.build();
    }
    if (contribution != null && (contribution.refused || contribution.received == r.chunks)) return out.build();
    if (problem == null && totalLength != r.totalLength) {
      problem = "shard " + shard + " sent " + totalLength + " parameters for round " + round + ", but the round's first "
          + "shard sent " + r.totalLength + " (every shard of a run must train the same model)";
    }
    int expectedChunk = contribution == null ? 0 : contribution.received;
    if (problem == null && chunk != expectedChunk) {
      problem = "chunk " + chunk + " of round " + round + " from shard " + shard + " arrived out of order (expected chunk "
          + expectedChunk + ")";
    }
    if (contribution == null) {
      contribution = new Contribution<>(attempt, replyTo);
      r.contributions.put(shard, contribution);
    }
    if (problem != null) {
      contribution.refused = true;
      remember(shard, attempt, round);
      r.expected.remove(shard);
      out.answers.add(new Answer<>(replyTo, shard, attempt, round, null, 0, problem, true));
    } else {
      int start = ParameterChunks.start(chunk);
      double[] sum = r.sum;
      for (int i = 0; i < values.length; i++) sum[start + i] += values[i];
      r.added[chunk]++;
      contribution.received++;
    }
    if (r.done()) complete(r, false, out);
    return out.build();
  }

  /**
   * Shard {@code shard} no longer trains (its attempt completed when {@code finished}, else it failed, stopped or
   * its worker was lost): no round waits for it any more.
   */
  public Outcome<A> leave(int shard, boolean finished) {
    Builder out = new Builder();
    answeredLate.remove(shard);
    for (Round<A> r : List.copyOf(open.values())) {
      r.expected.remove(shard);
      if (finished) r.expectedAtOpen.remove(shard);
      Contribution<A> contribution = r.contributions.get(shard);
      if (contribution != null) contribution.left = true;
      if (r.done()) complete(r, false, out);
    }
    return out.build();
  }

  /** Round {@code round}'s timeout has passed: it completes with what it has (nothing if it has completed). */
  public Outcome<A> timeOut(long round) {
    Builder out = new Builder();
    Round<A> r = open.get(round);
    if (r != null) complete(r, true, out);
    return out.build();
  }

  /** Rounds open now. */
  public int openRounds() {
    return open.size();
  }

  /** The highest round completed so far, -1 before the first. */
  public long lastCompleted() {
    return lastCompleted;
  }

  private void complete(Round<A> r, boolean timedOut, Builder out) {
    open.remove(r.number);
    lastCompleted = Math.max(lastCompleted, r.number);
    List<Integer> contributors = new ArrayList<>();
    r.contributions.forEach((shard, contribution) -> {
      if (r.whole(contribution)) contributors.add(shard);
    });
    contributors.sort(null);
    float[] average = average(r);
    if (average != null && r.number >= latestAverageRound) {
      latestAverage = average;
      latestAverageRound = r.number;
      latestContributors = contributors.size();
    }
    String noAverage = "round " + r.number + " timed out before any shard's parameters arrived whole; training goes on "
        + "from the shard's own (is sync.timeout shorter than sending the parameters takes?)";
    r.contributions.forEach((shard, contribution) -> {
      if (contribution.refused || contribution.left) return;
      // A shard half way through sending gets the average now; the rest of its chunks are late and dropped.
      if (contribution.received < r.chunks) remember(shard, contribution.attempt, r.number);
      out.answers.add(average != null
          ? new Answer<>(contribution.replyTo, shard, contribution.attempt, r.number, average, contributors.size(), null, false)
          : new Answer<>(contribution.replyTo, shard, contribution.attempt, r.number, null, 0, noAverage, false));
    });
    List<Integer> missing = new ArrayList<>(r.expectedAtOpen);
    missing.removeAll(contributors);
    long wallMs = (nanoClock.getAsLong() - r.openedNs) / 1_000_000;
    out.completed.add(new Completed(r.number, r.totalLength, List.copyOf(contributors), List.copyOf(missing), timedOut,
        average != null, wallMs));
  }

  /** The element-wise mean, each chunk over the shards whose values for it arrived; null if a chunk has none. */
  private static float[] average(Round<?> r) {
    for (int count : r.added) if (count == 0) return null;
    float[] average = new float[r.totalLength];
    for (int chunk = 0; chunk < r.chunks; chunk++) {
      int start = ParameterChunks.start(chunk);
      int end = start + ParameterChunks.length(r.totalLength, chunk);
      double count = r.added[chunk];
      for (int i = start; i < end; i++) average[i] = (float) (r.sum[i] / count);
    }
    return average;
  }

  /** A chunk for a round that has completed: answer the attempt once, with the latest average. */
  private void late(int shard, int attempt, A replyTo, long round, int totalLength, Builder out) {
    remember(shard, attempt, round);
    if (latestAverage == null) {
      out.answers.add(new Answer<>(replyTo, shard, attempt, round, null, 0, "round " + round + " has completed and the "
          + "run has no average yet; training goes on from the shard's own parameters", false));
    } else if (latestAverage.length != totalLength) {
      out.answers.add(new Answer<>(replyTo, shard, attempt, round, null, 0, "shard " + shard + " sent " + totalLength
          + " parameters for round " + round + ", but the run's average (round " + latestAverageRound + ") has "
          + latestAverage.length + " (every shard of a run must train the same model)", true));
    } else {
      out.answers.add(new Answer<>(replyTo, shard, attempt, round, latestAverage, latestContributors, null, false));
    }
  }

  /** True when this attempt has had its answer for this round, so the rest of its chunks for it are dropped. */
  private boolean answered(int shard, int attempt, long round) {
    long[] last = answeredLate.get(shard);
    return last != null && last[0] == attempt && last[1] == round;
  }

  private void remember(int shard, int attempt, long round) {
    answeredLate.put(shard, new long[] {attempt, round});
  }

  private static String malformed(int shard, long round, int chunk, int chunks, int totalLength, float[] values) {
    String where = "chunk " + chunk + " of round " + round + " from shard " + shard;
    if (round < 0) return where + ": a round is numbered from 0";
    if (totalLength < 0) return where + ": a negative length, " + totalLength;
    if (chunks != ParameterChunks.count(totalLength) || chunk < 0 || chunk >= chunks) {
      return where + ": " + chunks + " chunks for " + totalLength + " parameters (expected "
          + ParameterChunks.count(totalLength) + " of " + ParameterChunks.FLOATS_PER_CHUNK + ")";
    }
    if (values == null || values.length != ParameterChunks.length(totalLength, chunk)) {
      return where + ": " + (values == null ? "no" : Integer.toString(values.length)) + " values (expected "
          + ParameterChunks.length(totalLength, chunk) + ")";
    }
    return null;
  }
}
