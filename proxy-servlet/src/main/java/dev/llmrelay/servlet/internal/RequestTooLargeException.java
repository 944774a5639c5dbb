package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;

/**
 * The client request body is larger than {@code MAX_REQUEST_BYTES}: HTTP 413, code {@code
 * request_too_large}. Immutable and thread-safe.
 */
public final class RequestTooLargeException extends RelayException {
  private static final long serialVersionUID = 1L;

  /** @param limit the configured limit in bytes */
  public RequestTooLargeException(long limit) {
    super(
        413,
        "request_too_large",
        "The request body is larger than the proxy limit of " + limit + " bytes (MAX_REQUEST_BYTES).",
        null,
        false,
        0,
        null);
  }
}
