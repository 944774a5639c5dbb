package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;

/**
 * The path is not one the proxy serves: HTTP 404, code {@code not_found}. Immutable and
 * thread-safe.
 */
public final class NotFoundException extends RelayException {
  private static final long serialVersionUID = 1L;

  /** @param path the requested path (echoed; it carries no secret) */
  public NotFoundException(String path) {
    super(404, "not_found", "Unknown path: " + path, null, false, 0, null);
  }
}
