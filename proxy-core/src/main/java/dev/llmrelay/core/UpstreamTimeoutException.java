package dev.llmrelay.core;

/**
 * Every attempt timed out (no response headers within the attempt timeout, or a body that went
 * silent past the idle timeout): HTTP 504, code {@code upstream_timeout}. Immutable and thread-safe.
 */
public final class UpstreamTimeoutException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message what timed out, naming the limit
   * @param attempts attempts made
   * @param cause the last timeout, or null
   */
  public UpstreamTimeoutException(String message, int attempts, Throwable cause) {
    super(504, "upstream_timeout", message, null, false, attempts, cause);
  }
}
