package io.quarry.bench;

import com.datadoghq.sketch.ddsketch.DDSketch;
import io.quarry.protocol.sketch.LossSketch;
import io.quarry.worker.hardexamples.HardExampleTracker;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The worker's per-sample hot path: {@link HardExampleTracker#offer} on a full, warm buffer (the steady state of
 * a run, where nearly every sample is turned away), with and without labels, against a plain loop summing the same losses as the
 * yardstick, and the loss sketch on its own to show its share. Throughput is per sample.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class TrackerBenchmark {
  static final int SAMPLES = 1 << 16;
  static final int K = 1024;

  private final long[] ids = new long[SAMPLES];
  private final float[] losses = new float[SAMPLES];
  private final int[] labels = new int[SAMPLES];
  private final int[] predicted = new int[SAMPLES];
  private HardExampleTracker tracker;
  private DDSketch sketch;
  private long step;

  @Setup
  public void setUp() {
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < SAMPLES; i++) {
      ids[i] = random.nextLong(50_000_000L);
      losses[i] = (float) (-Math.log(1 - random.nextDouble())); // exponential, like per-sample cross-entropy
      labels[i] = random.nextInt(10);
      predicted[i] = random.nextInt(10);
    }
    tracker = new HardExampleTracker("bench-worker", K, true);
    tracker.setThreshold(2.3); // about the 90th percentile, so aboveThreshold counts
    // Fill and warm the buffer: from here on offers run the steady-state path.
    tracker.offer(ids, losses, SAMPLES, 0);
    tracker.offer(ids, losses, SAMPLES, 1);
    sketch = LossSketch.create();
    for (float loss : losses) sketch.accept(loss);
  }

  @Benchmark
  @OperationsPerInvocation(SAMPLES)
  public float plainLoop() {
    float sum = 0;
    for (int i = 0; i < SAMPLES; i++) {
      sum += losses[i];
    }
    return sum;
  }

  @Benchmark
  @OperationsPerInvocation(SAMPLES)
  public int trackerOffer() {
    int accepted = 0;
    long s = ++step;
    for (int i = 0; i < SAMPLES; i++) {
      if (tracker.offer(ids[i], losses[i], s)) accepted++;
    }
    return accepted;
  }

  @Benchmark
  @OperationsPerInvocation(SAMPLES)
  public HardExampleTracker trackerBatchOffer() {
    tracker.offer(ids, losses, SAMPLES, ++step);
    return tracker;
  }

  /** The batch path with labels and predicted classes, as a classifier's trainer offers them. */
  @Benchmark
  @OperationsPerInvocation(SAMPLES)
  public HardExampleTracker trackerBatchOfferLabelled() {
    tracker.offer(ids, losses, labels, predicted, SAMPLES, ++step);
    return tracker;
  }

  /** The DDSketch update alone, the part of every offer that the tracker cannot skip. */
  @Benchmark
  @OperationsPerInvocation(SAMPLES)
  public DDSketch sketchOnly() {
    for (int i = 0; i < SAMPLES; i++) {
      sketch.accept(losses[i]);
    }
    return sketch;
  }
}
