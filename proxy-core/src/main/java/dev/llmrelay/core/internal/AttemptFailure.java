package dev.llmrelay.core.internal;

/**
 * Why one attempt failed before it produced a usable response; the retry policy retries exactly
 * these. Created without a stack trace (an expected outcome, cheap under load). Immutable.
 */
final class AttemptFailure extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The kind of failure, which decides the final status when attempts run out. */
  enum Kind {
    /** No response headers within the attempt timeout. */
    TIMEOUT("timeout"),
    /** Headers arrived, then the body went silent past the idle timeout. */
    IDLE_TIMEOUT("idle_timeout"),
    /** The connection could not be made (refused, DNS, TLS). */
    CONNECT("connect_error"),
    /** The connection broke (reset, closed early, truncated body). */
    BROKEN("reset");

    /** The attempt result as the request log and metrics name it. */
    final String reason;

    Kind(String reason) {
      this.reason = reason;
    }

    boolean isTimeout() {
      return this == TIMEOUT || this == IDLE_TIMEOUT;
    }
  }

  final Kind kind;

  AttemptFailure(Kind kind, String message, Throwable cause) {
    super(message, cause, false, false);
    this.kind = kind;
  }
}
