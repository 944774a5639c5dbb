package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;

/**
 * The client request body is not a JSON object: HTTP 400, code {@code invalid_json}. Immutable and
 * thread-safe.
 */
public final class InvalidJsonException extends RelayException {
  private static final long serialVersionUID = 1L;

  /** @param detail what is wrong with the body (never the body itself) */
  public InvalidJsonException(String detail) {
    super(400, "invalid_json", "The request body must be a JSON object: " + detail, null, false, 0, null);
  }
}
