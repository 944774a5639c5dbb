package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;

/**
 * The client request body ended before it was complete: fewer bytes than its {@code
 * Content-Length} declared, or a chunked body cut off before its last chunk, because the client
 * half-closed, reset or lost the connection. HTTP 400, code {@code incomplete_body}; the request
 * never reaches the upstream. Thrown only by the servlet adapter. Immutable and thread-safe.
 */
public final class IncompleteBodyException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * @param received the body bytes that arrived
   * @param declared the declared {@code Content-Length}, or -1 for a body without one
   * @param cause the container's read failure, or null when the body simply ended early
   */
  public IncompleteBodyException(long received, long declared, Throwable cause) {
    super(400, "incomplete_body", message(received, declared), null, true, 0, cause);
  }

  private static String message(long received, long declared) {
    if (declared >= 0) {
      return "The request body ended after " + received + " of the " + declared
          + " bytes its Content-Length declared: the upload was cut off.";
    }
    return "The request body was cut off after " + received + " bytes, before its end.";
  }
}
