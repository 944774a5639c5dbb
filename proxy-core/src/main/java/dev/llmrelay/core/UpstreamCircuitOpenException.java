package dev.llmrelay.core;

import java.time.Duration;

/**
 * Every route a request could take has an open circuit breaker: HTTP 503, code {@code
 * upstream_circuit_open}, with a {@code Retry-After} equal to the time until the first one lets a
 * probe through (at most 60 s). The upstream was not touched. Immutable and thread-safe.
 */
public final class UpstreamCircuitOpenException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * @param routes the routes that are open, for the message
   * @param retryAfter time until the first half-opens
   */
  public UpstreamCircuitOpenException(String routes, Duration retryAfter) {
    super(
        503,
        "upstream_circuit_open",
        "Every route for this request is failing and temporarily skipped (" + routes + "). Retry later.",
        clamp(retryAfter),
        true,
        0,
        null);
  }

  private static Duration clamp(Duration d) {
    long s = Math.max(1, Math.min(60, (d.toMillis() + 999) / 1000));
    return Duration.ofSeconds(s);
  }
}
