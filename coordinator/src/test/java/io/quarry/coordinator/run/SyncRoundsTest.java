package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.ParameterChunks;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class SyncRoundsTest {
  private static final int CHUNK = ParameterChunks.FLOATS_PER_CHUNK;

  private final AtomicLong nanos = new AtomicLong();
  private final SyncRounds<String> rounds = new SyncRounds<>(nanos::get);

  /** Sends shard {@code shard}'s whole vector for {@code round}, chunk by chunk; returns every outcome's answers. */
  private List<SyncRounds.Outcome<String>> send(int shard, long round, float[] vector, Set<Integer> active) {
    List<SyncRounds.Outcome<String>> outcomes = new ArrayList<>();
    int chunks = ParameterChunks.count(vector.length);
    for (int chunk = 0; chunk < chunks; chunk++) outcomes.add(sendChunk(shard, 1, round, vector, chunk, active));
    return outcomes;
  }

  private SyncRounds.Outcome<String> sendChunk(int shard, int attempt, long round, float[] vector, int chunk,
      Set<Integer> active) {
    int start = ParameterChunks.start(chunk);
    float[] values = Arrays.copyOfRange(vector, start, start + ParameterChunks.length(vector.length, chunk));
    return rounds.contribute(shard, attempt, "worker-" + shard, round, chunk, ParameterChunks.count(vector.length),
        vector.length, values, active);
  }

  private static SyncRounds.Outcome<String> last(List<SyncRounds.Outcome<String>> outcomes) {
    return outcomes.get(outcomes.size() - 1);
  }

  private static List<SyncRounds.Answer<String>> answers(List<SyncRounds.Outcome<String>> outcomes) {
    return outcomes.stream().flatMap(o -> o.answers().stream()).toList();
  }

  private static float[] vector(int length, long seed) {
    Random random = new Random(seed);
    float[] vector = new float[length];
    for (int i = 0; i < length; i++) vector[i] = (float) (random.nextGaussian() * 10);
    return vector;
  }

  @Test
  void completesOnceEveryActiveShardHasSentItsParametersAndAnswersEachWithTheAverage() {
    Set<Integer> active = Set.of(0, 1);

    SyncRounds.Outcome<String> first = last(send(0, 0, new float[] {1, 2, 3}, active));
    assertEquals(OptionalLong.of(0), first.opened());
    assertTrue(first.answers().isEmpty());
    assertTrue(first.completed().isEmpty());
    nanos.addAndGet(7_000_000);
    SyncRounds.Outcome<String> second = last(send(1, 0, new float[] {3, 4, 8}, active));

    assertEquals(2, second.answers().size());
    for (SyncRounds.Answer<String> answer : second.answers()) {
      assertArrayEquals(new float[] {2, 3, 5.5f}, answer.average());
      assertEquals(2, answer.contributors());
      assertEquals(0, answer.round());
      assertNull(answer.error());
    }
    assertEquals(List.of("worker-0", "worker-1"), second.answers().stream().map(SyncRounds.Answer::replyTo).toList());
    SyncRounds.Completed completed = second.completed().get(0);
    assertEquals(new SyncRounds.Completed(0, 3, List.of(0, 1), List.of(), false, true, 7), completed);
    assertEquals(0, rounds.openRounds());
    assertEquals(0, rounds.lastCompleted());
  }

  @Test
  void averagesVectorsOfManyChunksElementWiseRoundingOnceToFloat() {
    int length = 2 * CHUNK + 5;
    float[][] vectors = {vector(length, 1), vector(length, 2), vector(length, 3)};
    Set<Integer> active = Set.of(0, 1, 2);

    send(0, 4, vectors[0], active);
    send(1, 4, vectors[1], active);
    List<SyncRounds.Outcome<String>> outcomes = send(2, 4, vectors[2], active);

    List<SyncRounds.Answer<String>> answers = answers(outcomes);
    assertEquals(3, answers.size());
    float[] average = answers.get(0).average();
    for (SyncRounds.Answer<String> answer : answers) assertSame(average, answer.average(), "one array for all");
    for (int i = 0; i < length; i++) {
      float expected = (float) (((double) vectors[0][i] + vectors[1][i] + vectors[2][i]) / 3);
      assertEquals(expected, average[i], "parameter " + i);
    }
  }

  @Test
  void aShardThatSendsNothingIsLeftOutWhenTheRoundTimesOut() {
    Set<Integer> active = Set.of(0, 1, 2);
    send(0, 3, new float[] {2}, active);
    SyncRounds.Outcome<String> waiting = last(send(1, 3, new float[] {4}, active));
    assertTrue(waiting.answers().isEmpty(), "shard 2 is still waited for");
    nanos.addAndGet(10_000_000_000L);

    SyncRounds.Outcome<String> timedOut = rounds.timeOut(3);

    assertEquals(2, timedOut.answers().size());
    assertArrayEquals(new float[] {3}, timedOut.answers().get(0).average());
    assertEquals(new SyncRounds.Completed(3, 1, List.of(0, 1), List.of(2), true, true, 10_000), timedOut.completed().get(0));
    assertTrue(rounds.timeOut(3).answers().isEmpty(), "a round completes once");
  }

  @Test
  void aShardSendingForACompletedRoundGetsTheLatestAverageAtOnceAndOnlyOnce() {
    int length = CHUNK + 1;
    Set<Integer> active = Set.of(0, 1, 2);
    send(0, 0, vector(length, 1), active);
    send(1, 0, vector(length, 2), active);
    float[] round0 = rounds.timeOut(0).answers().get(0).average();

    List<SyncRounds.Outcome<String>> late = send(2, 0, vector(length, 3), active);

    List<SyncRounds.Answer<String>> answers = answers(late);
    assertEquals(1, answers.size(), "answered on its first chunk, the second is dropped");
    assertEquals("worker-2", answers.get(0).replyTo());
    assertSame(round0, answers.get(0).average());
    assertEquals(2, answers.get(0).contributors());
    assertTrue(late.stream().allMatch(o -> o.completed().isEmpty() && o.opened().isEmpty()));

    // Rounds 1 and 2 complete with shards 0 and 2; shard 1 resumes from a checkpoint and sends round 1 again.
    for (long round = 1; round <= 2; round++) {
      send(0, round, vector(length, 10 + round), Set.of(0, 2));
      send(2, round, vector(length, 20 + round), Set.of(0, 2));
    }
    SyncRounds.Answer<String> rejoined = rounds.contribute(1, 2, "worker-1b", 1, 0, 2, length,
        Arrays.copyOf(vector(length, 5), CHUNK), Set.of(0, 1, 2)).answers().get(0);
    assertEquals(2, rejoined.attempt());
    assertEquals(1, rejoined.round(), "the answer names the round asked for");
    assertEquals(2, rounds.lastCompleted());
    float[] round2 = rejoined.average();
    float[] a = vector(length, 12);
    float[] b = vector(length, 22);
    for (int i = 0; i < length; i++) assertEquals((float) (((double) a[i] + b[i]) / 2), round2[i], "round 2's average");
  }

  @Test
  void aShardLeavingTheActiveSetCompletesTheRoundThatWaitedForIt() {
    Set<Integer> active = Set.of(0, 1, 2);
    send(0, 5, new float[] {1, 1}, active);
    send(1, 5, new float[] {3, 3}, active);

    SyncRounds.Outcome<String> finished = rounds.leave(2, true);

    assertEquals(2, finished.answers().size());
    assertArrayEquals(new float[] {2, 2}, finished.answers().get(0).average());
    assertEquals(List.of(), finished.completed().get(0).missing(), "a shard that finished training is not missing");
    assertFalse(finished.completed().get(0).timedOut());

    send(0, 6, new float[] {1, 1}, Set.of(0, 1));
    SyncRounds.Outcome<String> lost = rounds.leave(1, false);
    assertEquals(List.of(1), lost.completed().get(0).missing(), "a lost shard is missing");
    assertEquals(List.of(0), lost.completed().get(0).contributors());
    assertArrayEquals(new float[] {1, 1}, lost.answers().get(0).average());
  }

  @Test
  void aShardThatLeftAfterSendingStillCountsButIsNotAnswered() {
    Set<Integer> active = Set.of(0, 1, 2);
    send(0, 0, new float[] {1}, active);
    rounds.leave(0, false);
    SyncRounds.Outcome<String> outcome = last(send(1, 0, new float[] {3}, active));
    assertTrue(outcome.completed().isEmpty(), "still waiting for shard 2");

    SyncRounds.Outcome<String> done = last(send(2, 0, new float[] {5}, active));

    assertEquals(List.of("worker-1", "worker-2"), done.answers().stream().map(SyncRounds.Answer::replyTo).toList());
    assertArrayEquals(new float[] {3}, done.answers().get(0).average());
  }

  @Test
  void aVectorOfAnotherLengthIsRefusedNamingBothLengthsAndTheRoundGoesOnWithoutIt() {
    Set<Integer> active = Set.of(0, 1);
    send(0, 2, new float[] {1, 2, 3}, active);

    SyncRounds.Outcome<String> refused = last(send(1, 2, new float[] {1, 2, 3, 4}, active));

    SyncRounds.Answer<String> failure = refused.answers().get(0);
    assertEquals("worker-1", failure.replyTo());
    assertTrue(failure.fatal());
    assertNull(failure.average());
    assertTrue(failure.error().contains("shard 1 sent 4 parameters for round 2"), failure.error());
    assertTrue(failure.error().contains("sent 3"), failure.error());
    assertEquals("worker-0", refused.answers().get(1).replyTo());
    assertArrayEquals(new float[] {1, 2, 3}, refused.answers().get(1).average(), "the garbage is not averaged in");
    assertEquals(List.of(1), refused.completed().get(0).missing());
  }

  @Test
  void aShardCutOffHalfWayCountsForTheChunksThatArrivedAndItsLaterChunksAreDropped() {
    int length = CHUNK + 2;
    float[] whole = new float[length];
    float[] cutOff = new float[length];
    Arrays.fill(whole, 1);
    Arrays.fill(cutOff, 3);
    Set<Integer> active = Set.of(0, 1);
    send(0, 0, whole, active);
    sendChunk(1, 1, 0, cutOff, 0, active);
    assertEquals(1, rounds.openRounds(), "waits for the shard that is half way through");

    SyncRounds.Outcome<String> timedOut = rounds.timeOut(0);

    float[] average = timedOut.answers().get(0).average();
    assertEquals(2, average[0], "the first chunk has both shards");
    assertEquals(1, average[length - 1], "the second has shard 0's alone");
    assertEquals(2, timedOut.answers().size(), "the cut-off shard is answered too");
    assertEquals(List.of(0), timedOut.completed().get(0).contributors());
    assertEquals(List.of(1), timedOut.completed().get(0).missing());
    assertTrue(sendChunk(1, 1, 0, cutOff, 1, active).answers().isEmpty(), "its last chunk is late and dropped");
  }

  @Test
  void withoutOneWholeVectorTheRoundEndsWithoutAnAverageAndTrainingGoesOn() {
    float[] vector = new float[CHUNK + 1];
    sendChunk(0, 1, 0, vector, 0, Set.of(0));

    SyncRounds.Outcome<String> timedOut = rounds.timeOut(0);

    SyncRounds.Answer<String> answer = timedOut.answers().get(0);
    assertNull(answer.average());
    assertFalse(answer.fatal());
    assertTrue(answer.error().contains("timed out"), answer.error());
    assertFalse(timedOut.completed().get(0).averaged());
    SyncRounds.Answer<String> late = last(send(1, 0, new float[] {1}, Set.of(0, 1))).answers().get(0);
    assertFalse(late.fatal(), "no average yet: the late shard keeps its own");
  }

  @Test
  void malformedChunksAreRefusedOnce() {
    SyncRounds.Outcome<String> wrongCount = rounds.contribute(0, 1, "w", 0, 0, 5, 10, new float[10], Set.of(0));
    assertTrue(wrongCount.answers().get(0).fatal());
    assertTrue(wrongCount.answers().get(0).error().contains("5 chunks for 10 parameters"), wrongCount.answers().get(0).error());
    assertTrue(rounds.contribute(0, 1, "w", 0, 1, 5, 10, new float[10], Set.of(0)).answers().isEmpty());
    assertEquals(0, rounds.openRounds());

    SyncRounds.Outcome<String> wrongSize = rounds.contribute(1, 1, "w", 1, 0, 1, 10, new float[9], Set.of(1));
    assertTrue(wrongSize.answers().get(0).error().contains("9 values (expected 10)"), wrongSize.answers().get(0).error());
  }

  @Test
  void anotherAttemptOfAShardAlreadyInTheRoundContinuesFromTheLatestAverage() {
    send(0, 0, new float[] {4}, Set.of(0));
    send(0, 1, new float[] {6}, Set.of(0, 1));
    SyncRounds.Outcome<String> again = rounds.contribute(0, 2, "worker-0b", 1, 0, 1, 1, new float[] {9}, Set.of(0, 1));

    assertEquals("worker-0b", again.answers().get(0).replyTo());
    assertArrayEquals(new float[] {4}, again.answers().get(0).average(), "round 0's average, the latest");
    assertEquals(1, rounds.openRounds(), "round 1 still waits for shard 1");
  }
}
