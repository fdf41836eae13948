package io.quarry.protocol;

/**
 * The lifecycle of a worker as the coordinator sees it: {@code UP -> BUSY <-> IDLE -> LOST}. A worker is
 * lost when it terminates, stays unreachable past the limit, or is removed from the cluster.
 */
public enum WorkerState {
  UP,
  IDLE,
  BUSY,
  LOST
}
