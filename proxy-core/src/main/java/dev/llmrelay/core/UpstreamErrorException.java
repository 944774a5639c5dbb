package dev.llmrelay.core;

/**
 * The upstream answered an error status with a body that is not JSON (for example a CDN HTML
 * page): the client receives the upstream status with code {@code upstream_error} and a JSON
 * body naming that status. Immutable and thread-safe.
 */
public final class UpstreamErrorException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param status the upstream status, passed on to the client
   * @param retryAfter the upstream Retry-After, if it sent one
   * @param shouldRetry false when the proxy already retried this failure
   * @param attempts attempts made
   */
  public UpstreamErrorException(
      int status, java.time.Duration retryAfter, boolean shouldRetry, int attempts) {
    super(
        status,
        "upstream_error",
        "The upstream answered HTTP " + status + " with a body that is not JSON.",
        retryAfter,
        shouldRetry,
        attempts,
        null);
  }
}
