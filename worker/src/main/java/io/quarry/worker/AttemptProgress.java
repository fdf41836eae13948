package io.quarry.worker;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What one shard attempt's trainer has offered to the tracker: steps and samples, what a failed attempt reports as
 * trained. The training thread writes, the worker's actor reads; writes allocate nothing and never block.
 */
final class AttemptProgress {
  private final AtomicLong steps = new AtomicLong();
  private final AtomicLong samples = new AtomicLong();

  /** One step's per-sample losses, {@code count} of them, were offered at step index {@code step}. */
  void offered(long step, int count) {
    steps.incrementAndGet();
    samples.addAndGet(count);
  }

  /** Steps whose losses this attempt offered: what a failed attempt reports as trained. */
  long stepsOffered() {
    return steps.get();
  }

  /** Samples this attempt offered. */
  long samples() {
    return samples.get();
  }
}
