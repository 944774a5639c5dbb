package dev.llmrelay.core;

/**
 * A failure inside the relay itself (a bug, not the upstream's fault): HTTP 500, code {@code
 * internal_error}. Logged with its cause; the client sees only a generic message. Immutable and
 * thread-safe.
 */
public final class InternalRelayException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param attempts attempts made
   * @param cause what went wrong
   */
  public InternalRelayException(int attempts, Throwable cause) {
    super(500, "internal_error", "The relay failed unexpectedly; see its log.", null, false, attempts, cause);
  }
}
