package dev.llmrelay.core;

/**
 * Every attempt failed to connect or was reset: HTTP 502, code {@code upstream_unreachable}.
 * Immutable and thread-safe.
 */
public final class UpstreamUnreachableException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param message what failed
   * @param attempts attempts made
   * @param cause the last connection failure, or null
   */
  public UpstreamUnreachableException(String message, int attempts, Throwable cause) {
    this(message, attempts, true, cause);
  }

  /**
   * Creates the error.
   *
   * @param message what happened, with the attempt count
   * @param attempts attempts made
   * @param retriesExhausted true when the relay used up its own attempts (the client is then told
   *     {@code x-should-retry: false}); false when it stopped early (the retry budget) and a client
   *     retry may well succeed
   * @param cause the last attempt's failure
   */
  public UpstreamUnreachableException(String message, int attempts, boolean retriesExhausted, Throwable cause) {
    super(502, "upstream_unreachable", message, null, !retriesExhausted, attempts, cause);
  }
}
