package io.quarry.bench;

import io.quarry.coordinator.merge.HardExampleMerger;
import io.quarry.coordinator.merge.MergeMode;
import io.quarry.coordinator.merge.MergeResult;
import io.quarry.protocol.HardExampleSnapshot;
import io.quarry.protocol.sketch.LossSketch;
import io.quarry.worker.hardexamples.HardExampleTracker;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * One all-gather merge on the coordinator: 256 workers, each with a full buffer of 1024 entries and a sketch of
 * its interval's losses, built by real trackers in setup. Some sample ids repeat across workers.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class MergeBenchmark {
  static final int WORKERS = 256;
  static final int K = 1024;
  static final int LOSSES_PER_WORKER = 16_384;

  @Param({"ROUND_ROBIN", "TOP_K"})
  public MergeMode mode;

  private List<HardExampleSnapshot> snapshots;
  private int mergeIndex;

  @Setup
  public void setUp() {
    SplittableRandom random = new SplittableRandom(7);
    snapshots = new ArrayList<>(WORKERS);
    for (int w = 0; w < WORKERS; w++) {
      HardExampleTracker tracker = new HardExampleTracker(String.format("worker-%03d", w), K, false);
      for (int i = 0; i < LOSSES_PER_WORKER; i++) {
        // A dataset of 2M samples: across 256 x 16k offers, ids often meet on several workers.
        tracker.offer(random.nextLong(2_000_000L), (float) (-Math.log(1 - random.nextDouble()) * (1 + w % 4)), i);
      }
      snapshots.add(tracker.snapshot("bench-run", 0));
    }
    if (snapshots.stream().anyMatch(s -> s.entries().size() != K)) throw new IllegalStateException("buffer not full");
    if (LossSketch.decode(snapshots.get(0).lossSketch()).isEmpty()) throw new IllegalStateException("no sketch");
  }

  @Benchmark
  public MergeResult merge() {
    return HardExampleMerger.merge(mergeIndex++, mode, K, 0.9, snapshots);
  }
}
