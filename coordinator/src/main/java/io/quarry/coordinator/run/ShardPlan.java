package io.quarry.coordinator.run;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a dataset into shards by stable sample index: shard i holds the consecutive indices
 * {@code [i*n/s, (i+1)*n/s)}, so shard sizes differ by at most one and a sample always lands in the same
 * shard for the same (n, s).
 */
public final class ShardPlan {
  /** One shard's slice of sample indices. */
  public record Slice(int shard, long firstSample, long sampleCount) {}

  private ShardPlan() {}

  public static List<Slice> plan(long samples, int shards) {
    if (samples < 1) throw new IllegalArgumentException("a run needs at least one sample, got " + samples);
    if (shards < 1) throw new IllegalArgumentException("a run needs at least one shard, got " + shards);
    if (shards > samples) {
      throw new IllegalArgumentException("cannot split " + samples + " samples into " + shards + " shards");
    }
    List<Slice> slices = new ArrayList<>(shards);
    for (int i = 0; i < shards; i++) {
      // samples <= 2^40 and shards <= 2^20 (the config's limits), so the products fit in a long.
      long first = i * samples / shards;
      long next = (i + 1) * samples / shards;
      slices.add(new Slice(i, first, next - first));
    }
    return slices;
  }

  /** Steps one shard of {@code sampleCount} samples takes over the run: ceil(count / batch) per epoch. */
  public static long stepsFor(long sampleCount, int batchSize, int epochs) {
    return ((sampleCount + batchSize - 1) / batchSize) * epochs;
  }
}
