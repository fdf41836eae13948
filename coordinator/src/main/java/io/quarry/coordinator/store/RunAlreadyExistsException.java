package io.quarry.coordinator.store;

/** A run was created with an id the store already holds; nothing was changed. */
public final class RunAlreadyExistsException extends RunStoreException {
  private static final long serialVersionUID = 1L;

  private final String runId;

  public RunAlreadyExistsException(String runId, String store) {
    super("run '" + runId + "' already exists in the run store " + store + "; run ids are unique, nothing was changed");
    this.runId = runId;
  }

  public String runId() {
    return runId;
  }
}
