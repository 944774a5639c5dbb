package dev.llmrelay.core;

/**
 * More than {@code MAX_QUEUED_REQUESTS} requests were already waiting for a permit: HTTP 503, code
 * {@code queue_full}, answered at once with a {@code Retry-After}. Immutable and thread-safe.
 */
public final class QueueFullException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param queued how many requests were waiting
   * @param retryAfter the Retry-After to send
   */
  public QueueFullException(int queued, java.time.Duration retryAfter) {
    super(
        503,
        "queue_full",
        "The proxy queue is full (" + queued + " requests already waiting). Retry later.",
        retryAfter,
        true,
        0,
        null);
  }
}
