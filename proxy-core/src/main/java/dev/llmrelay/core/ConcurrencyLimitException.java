package dev.llmrelay.core;

/**
 * No concurrency permit became free within {@code MAX_WAIT_SECONDS}: HTTP 503, code {@code
 * concurrency_limit}, with a {@code Retry-After}. No upstream attempt was made, and the client may
 * retry later. Immutable and thread-safe.
 */
public final class ConcurrencyLimitException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param waited how long the request waited for a permit
   * @param retryAfter the Retry-After to send (at most 60 s)
   */
  public ConcurrencyLimitException(java.time.Duration waited, java.time.Duration retryAfter) {
    this(waited, retryAfter, "MAX_CONCURRENT_REQUESTS");
  }

  /**
   * The limit that refused the request is named: {@code MAX_CONCURRENT_REQUESTS} (this
   * instance's) or {@code SHARED_MAX_CONCURRENT_REQUESTS} (the cap shared by every instance).
   *
   * @param waited how long the request waited
   * @param retryAfter the Retry-After to send (at most 60 s)
   * @param limit the setting of the limit that was reached
   */
  public ConcurrencyLimitException(java.time.Duration waited, java.time.Duration retryAfter, String limit) {
    super(
        503,
        "concurrency_limit",
        "The proxy is at its concurrency limit: no slot became free within "
            + String.format(java.util.Locale.ROOT, "%.1f", waited.toMillis() / 1000.0)
            + "s. Retry later or raise " + limit + ".",
        retryAfter,
        true,
        0,
        null);
  }
}
