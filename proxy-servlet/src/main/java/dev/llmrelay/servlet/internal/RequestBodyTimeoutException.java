package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;
import java.time.Duration;

/**
 * The client sent no request body bytes for longer than {@code CLIENT_BODY_TIMEOUT_SECONDS} (or
 * than the container's idle timeout): HTTP 408, code {@code request_body_timeout}; the relay closes
 * the connection and the request never reaches the upstream. Thrown only by the servlet adapter.
 * Immutable and thread-safe.
 */
public final class RequestBodyTimeoutException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * @param timeout the relay's body timeout that expired, or null when the container's idle
   *     timeout ended the read
   * @param cause the container's timeout failure, or null
   */
  public RequestBodyTimeoutException(Duration timeout, Throwable cause) {
    super(408, "request_body_timeout", message(timeout), null, true, 0, cause);
  }

  private static String message(Duration timeout) {
    if (timeout == null) {
      return "The client sent no request body bytes for the server's idle timeout; the body is incomplete.";
    }
    String seconds = timeout.toMillis() % 1000 == 0
        ? Long.toString(timeout.toSeconds())
        : Double.toString(timeout.toMillis() / 1000.0);
    return "The client sent no request body bytes for " + seconds
        + " s (CLIENT_BODY_TIMEOUT_SECONDS); the body is incomplete.";
  }
}
