package io.quarry.config;

/** A run config that cannot be accepted. The message is one line naming the key, the value and what is allowed. */
public final class RunConfigException extends RuntimeException {
  public RunConfigException(String message) {
    super(message);
  }
}
