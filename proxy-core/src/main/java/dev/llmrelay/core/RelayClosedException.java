package dev.llmrelay.core;

/**
 * The client is closed or shutting down and takes no new exchange: HTTP 503, code {@code
 * relay_closed}, with a short {@code Retry-After}. Immutable and thread-safe.
 */
public final class RelayClosedException extends RelayException {
  private static final long serialVersionUID = 1L;

  /** Creates the error. */
  public RelayClosedException() {
    super(503, "relay_closed", "The relay is shutting down.", java.time.Duration.ofSeconds(1), true, 0, null);
  }
}
