package io.quarry.coordinator.store;

/** The run store could not do what was asked; the message names the store and what was being done. */
public class RunStoreException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public RunStoreException(String message) {
    super(message);
  }

  public RunStoreException(String message, Throwable cause) {
    super(message, cause);
  }
}
