package io.quarry.protocol;

/**
 * The lifecycle of a shard: {@code PENDING -> ASSIGNED -> RUNNING -> DONE | FAILED}. A failed or orphaned
 * shard goes back to {@code PENDING} with its attempt number raised, and resumes from its last checkpoint.
 */
public enum ShardState {
  PENDING,
  ASSIGNED,
  RUNNING,
  DONE,
  FAILED
}
