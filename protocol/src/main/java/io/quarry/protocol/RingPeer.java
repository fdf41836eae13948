package io.quarry.protocol;

/**
 * One member of a run's all-reduce ring: the shard attempt and where its data plane listens (a TCP port of the
 * worker's host, not Pekko's). Parameters and gradients go between these addresses, never through the coordinator.
 */
public record RingPeer(int shard, int attempt, String host, int port) {}
