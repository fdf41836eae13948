package io.quarry.coordinator.merge;

import io.quarry.protocol.HardExample;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One merge of the workers' hard-example buffers.
 *
 * @param mergeIndex the merge, numbered from 0
 * @param mode how the buffers were merged
 * @param entries at most K entries, highest loss first (equal losses by ascending sample id), unique sample ids
 * @param threshold the cluster-wide loss threshold: the configured quantile of every worker's sketch merged;
 *     {@code NaN} when no worker saw a loss
 * @param workers the workers that answered, in the order the merge visited them
 * @param takenPerWorker how many of {@code entries} each answering worker contributed, in {@code workers} order
 * @param samplesSeen losses the answering workers saw since their last merge, all together
 * @param aboveThreshold how many of them lay above the previous threshold
 * @param maxLoss the highest of them; {@code NaN} if none
 */
public record MergeResult(
    int mergeIndex,
    MergeMode mode,
    List<HardExample> entries,
    double threshold,
    List<String> workers,
    Map<String, Integer> takenPerWorker,
    long samplesSeen,
    long aboveThreshold,
    float maxLoss) {
  public MergeResult {
    entries = List.copyOf(entries);
    workers = List.copyOf(workers);
    takenPerWorker = Collections.unmodifiableMap(new LinkedHashMap<>(takenPerWorker)); // keeps the merge order
  }
}
