package dev.llmrelay.core;

/**
 * Every attempt timed out (no response headers within the attempt timeout, or a body that went
 * silent past the idle timeout): HTTP 504, code {@code upstream_timeout}. Immutable and thread-safe.
 */
public final class UpstreamTimeoutException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param message what timed out, naming the limit
   * @param attempts attempts made
   * @param cause the last timeout, or null
   */
  public UpstreamTimeoutException(String message, int attempts, Throwable cause) {
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
  public UpstreamTimeoutException(String message, int attempts, boolean retriesExhausted, Throwable cause) {
    super(504, "upstream_timeout", message, null, !retriesExhausted, attempts, cause);
  }
}
