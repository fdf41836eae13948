package io.quarry.worker;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.collective.DataPlaneSettings;
import io.quarry.worker.collective.RingAbortedException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.Consumer;

/**
 * Opens shard attempts' {@link RingLink}s for one worker: its data-plane settings and its node's host.
 *
 * @param nodeHost where the data plane listens when {@code quarry.worker.data-plane.host} is empty
 */
record RingLinks(DataPlaneSettings settings, String nodeHost) {
  /**
   * The attempt's link when its run sums on a ring and has more than one shard; null otherwise.
   *
   * @throws UncheckedIOException when the data plane cannot listen (the attempt fails with it)
   */
  RingLink open(RunConfig config, String runId, ShardAssignment assignment, Consumer<RingAbortedException> onAbort) {
    if (!config.sync.ring() || assignment.shards() <= 1) return null;
    try {
      return RingLink.open(settings, nodeHost, runId, assignment.shard(), assignment.attempt(), config.sync.timeout(),
          onAbort);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open the all-reduce data plane on " + (settings.host().isBlank()
          ? nodeHost : settings.host()) + ":" + settings.port() + " (quarry.worker.data-plane): " + e.getMessage(), e);
    }
  }
}
