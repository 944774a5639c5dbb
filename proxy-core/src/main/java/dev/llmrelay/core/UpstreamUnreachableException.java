package dev.llmrelay.core;

/**
 * Every attempt failed to connect or was reset: HTTP 502, code {@code upstream_unreachable}.
 * Immutable and thread-safe.
 */
public final class UpstreamUnreachableException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message what failed
   * @param attempts attempts made
   * @param cause the last connection failure, or null
   */
  public UpstreamUnreachableException(String message, int attempts, Throwable cause) {
    super(502, "upstream_unreachable", message, null, false, attempts, cause);
  }
}
