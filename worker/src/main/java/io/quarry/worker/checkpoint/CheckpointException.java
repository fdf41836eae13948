package io.quarry.worker.checkpoint;

/**
 * A checkpoint on disk that cannot be used: a corrupt or truncated manifest, a manifest that does not match
 * its directory, or a checkpoint that does not fit the run it is resumed into. The message names the file
 * and what was wrong with it.
 */
public final class CheckpointException extends IllegalStateException {
  public CheckpointException(String message) {
    super(message);
  }

  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
