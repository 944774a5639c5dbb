package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;

/**
 * Inbound keys are configured ({@code RELAY_API_KEYS}) and the client presented none or a wrong
 * one: HTTP 401, code {@code invalid_proxy_key}. Immutable and thread-safe.
 */
public final class InvalidProxyKeyException extends RelayException {
  private static final long serialVersionUID = 1L;

  /** Creates the error; the message never repeats the presented key. */
  public InvalidProxyKeyException() {
    super(
        401,
        "invalid_proxy_key",
        "Missing or invalid proxy key: send one of RELAY_API_KEYS as \"Authorization: Bearer <key>\".",
        null,
        false,
        0,
        null);
  }
}
