package dev.llmrelay.core.shared;

import dev.llmrelay.core.RelayException;
import java.time.Duration;

/**
 * The shared-state engine did not answer and {@code SHARED_STATE_FAILURE_MODE} is {@code closed}:
 * HTTP 503, code {@code shared_state_unavailable}, with a {@code Retry-After}. No upstream attempt
 * was made. Immutable and thread-safe.
 */
public final class SharedStateUnavailableException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param retryAfter the {@code Retry-After} to send
   */
  public SharedStateUnavailableException(Duration retryAfter) {
    super(
        503,
        "shared_state_unavailable",
        "The relay cannot reach the state it shares with its other instances, and is configured"
            + " to refuse requests then (SHARED_STATE_FAILURE_MODE=closed). Retry later.",
        retryAfter,
        true,
        0,
        null);
  }
}
