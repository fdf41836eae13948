package io.quarry.coordinator.run;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarry.protocol.ParameterChunks;
import io.quarry.protocol.WorkerCommand;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The run's side of parameter averaging: rounds in, messages for the workers out. */
class AveragingRelayTest {
  private static final int LENGTH = ParameterChunks.FLOATS_PER_CHUNK + 10;
  private final AveragingRelay<String> relay = new AveragingRelay<>(7, "r", () -> 0L);

  private AveragingRelay.Outcome<String> send(int shard, float value) {
    float[] vector = new float[LENGTH];
    Arrays.fill(vector, value);
    float[][] chunks = ParameterChunks.cut(vector);
    AveragingRelay.Outcome<String> outcome = null;
    for (int chunk = 0; chunk < chunks.length; chunk++) {
      outcome = relay.contribute(shard, 1, "w" + shard, 0, chunk, chunks.length, LENGTH, chunks[chunk], Set.of(0, 1));
    }
    return outcome;
  }

  @Test
  void everyShardOfARoundGetsTheAverageInChunksCutOnce() {
    assertTrue(send(0, 1f).deliveries().isEmpty(), "the round waits for shard 1");
    AveragingRelay.Outcome<String> outcome = send(1, 3f);

    assertEquals(1, outcome.completed().size());
    List<AveragingRelay.Delivery<String>> deliveries = outcome.deliveries();
    assertEquals(4, deliveries.size(), "two chunks to each of two shards");
    WorkerCommand.AveragedChunk first = assertInstanceOf(WorkerCommand.AveragedChunk.class, deliveries.get(0).message());
    WorkerCommand.AveragedChunk other = assertInstanceOf(WorkerCommand.AveragedChunk.class, deliveries.get(2).message());
    assertEquals(7, first.incarnation());
    assertEquals(2, first.contributors());
    assertEquals(LENGTH, first.totalLength());
    assertEquals(2f, first.values()[0]);
    assertSame(first.values(), other.values(), "one cut for every receiver");
    assertArrayEquals(new String[] {"w0", "w0", "w1", "w1"},
        deliveries.stream().map(AveragingRelay.Delivery::to).toArray(String[]::new));
  }

  @Test
  void aRoundThatTimesOutWithoutAWholeVectorAnswersWhyThereIsNoAverage() {
    float[] chunk = new float[ParameterChunks.FLOATS_PER_CHUNK];
    AveragingRelay.Outcome<String> opened = relay.contribute(0, 1, "w0", 3, 0, 2, LENGTH, chunk, Set.of(0, 1));
    assertEquals(3, opened.opened().getAsLong());

    AveragingRelay.Outcome<String> outcome = relay.timeOut(3);

    WorkerCommand.AveragingFailed failed =
        assertInstanceOf(WorkerCommand.AveragingFailed.class, outcome.deliveries().get(0).message());
    assertFalse(failed.fatal());
    assertTrue(AveragingRelay.notable(outcome.completed().get(0)));
  }
}
