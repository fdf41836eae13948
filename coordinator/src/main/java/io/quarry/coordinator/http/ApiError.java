package io.quarry.coordinator.http;

import org.apache.pekko.http.javadsl.model.StatusCode;

/** A request the API refuses: the status to answer with and the one-line message a person will read. */
final class ApiError extends RuntimeException {
  private final transient StatusCode status;

  ApiError(StatusCode status, String message) {
    super(message, null, false, false);
    this.status = status;
  }

  StatusCode status() {
    return status;
  }
}
