package dev.llmrelay.core;

import java.time.Duration;

/**
 * Every route a request could take has an open circuit breaker: HTTP 503, code {@code
 * upstream_circuit_open}, with a {@code Retry-After} equal to the time until the first one lets a
 * probe through (at most 60 s). No attempt went to an open route; when the breakers opened during
 * this request's own retries, {@link #attempts()} counts the attempts it made before. Immutable
 * and thread-safe.
 */
public final class UpstreamCircuitOpenException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param routes the routes that are open, for the message
   * @param retryAfter time until the first half-opens
   */
  public UpstreamCircuitOpenException(String routes, Duration retryAfter) {
    this(routes, retryAfter, 0);
  }

  /**
   * Creates the error.
   *
   * @param routes the routes that are open, for the message
   * @param retryAfter time until the first half-opens
   * @param attempts attempts this request made before its breakers opened (sent as {@code
   *     X-Relay-Attempts}); 0 when every route was open when it arrived
   */
  public UpstreamCircuitOpenException(String routes, Duration retryAfter, int attempts) {
    super(
        503,
        "upstream_circuit_open",
        "Every route for this request is failing and temporarily skipped (" + routes + "). Retry later.",
        clamp(retryAfter),
        true,
        attempts,
        null);
  }

  private static Duration clamp(Duration d) {
    long s = Math.max(1, Math.min(60, (d.toMillis() + 999) / 1000));
    return Duration.ofSeconds(s);
  }
}
