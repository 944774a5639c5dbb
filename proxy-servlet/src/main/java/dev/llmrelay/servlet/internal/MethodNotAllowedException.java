package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;

/**
 * The path exists but not for this method: HTTP 405, code {@code method_not_allowed}. Immutable and
 * thread-safe.
 */
public final class MethodNotAllowedException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * @param method the method used
   * @param allowed the method the path accepts
   */
  public MethodNotAllowedException(String method, String allowed) {
    super(
        405,
        "method_not_allowed",
        "Method " + method + " is not allowed here; use " + allowed + ".",
        null,
        false,
        0,
        null);
  }
}
