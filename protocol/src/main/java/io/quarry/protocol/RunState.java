package io.quarry.protocol;

/**
 * The lifecycle of a run: {@code PENDING -> RUNNING -> COMPLETED | FAILED | STOPPED}, with {@code STOPPING}
 * while a stop is in flight.
 */
public enum RunState {
  PENDING,
  RUNNING,
  STOPPING,
  COMPLETED,
  FAILED,
  STOPPED;

  /** True for the states a run never leaves. */
  public boolean isFinal() {
    return this == COMPLETED || this == FAILED || this == STOPPED;
  }

  /** The lower-case name used in events and files ({@code completed}, {@code failed}, ...). */
  public String wireName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
