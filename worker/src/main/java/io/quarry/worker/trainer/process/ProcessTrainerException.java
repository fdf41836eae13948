package io.quarry.worker.trainer.process;

/** A shard attempt's program failed: it exited non-zero, went silent, or could not be started. */
public final class ProcessTrainerException extends Exception {
  public ProcessTrainerException(String message) {
    super(message);
  }

  public ProcessTrainerException(String message, Throwable cause) {
    super(message, cause);
  }
}
