package io.quarry.worker.trainer.stub;

/** A failure the stub trainer was configured to inject ({@code stub.fail-at-step}); its message names the key. */
public final class StubFaultException extends RuntimeException {
  public StubFaultException(String message) {
    super(message);
  }
}
