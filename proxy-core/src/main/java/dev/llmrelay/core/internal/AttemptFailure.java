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
    BROKEN("reset"),
    /** A stream's first data event did not come within FIRST_EVENT_TIMEOUT_SECONDS. */
    FIRST_EVENT_TIMEOUT("first_event_timeout");

    /** The attempt result as the request log and metrics name it. */
    final String reason;

    Kind(String reason) {
      this.reason = reason;
    }

    boolean isTimeout() {
      return this == TIMEOUT || this == IDLE_TIMEOUT || this == FIRST_EVENT_TIMEOUT;
    }
  }

  final Kind kind;
  /** Set once the attempt ended: another attempt follows (decided by the exchange's planning). */
  boolean retry;

  AttemptFailure(Kind kind, String message, Throwable cause) {
    super(message, cause, false, false);
    this.kind = kind;
  }
}
