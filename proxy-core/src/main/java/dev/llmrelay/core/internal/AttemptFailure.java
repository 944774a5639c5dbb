package dev.llmrelay.core.internal;

/**
 * Why an attempt, or a stream after its commit point, failed: the kind (which decides what comes
 * next and, when nothing does, what the client is told) and a sentence for the log. Thrown inside
 * an attempt and turned into an {@link AttemptOutcome.Failed}; never crosses the exchange. Created
 * without a stack trace (an expected outcome, cheap under load). Immutable.
 */
final class AttemptFailure extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The kind of failure, as the request log, the metrics and the retry plan name it. */
  enum Kind {
    /** No response headers within the attempt timeout. */
    TIMEOUT("timeout", true),
    /** A stream's first data event did not come within FIRST_EVENT_TIMEOUT_SECONDS. */
    FIRST_EVENT_TIMEOUT("first_event_timeout", true),
    /** Headers arrived, then the body went silent past the idle timeout (a stall). */
    IDLE_TIMEOUT("idle_timeout", true),
    /** The connection could not be made (refused, DNS, TLS). */
    CONNECT("connect_error", false),
    /** The connection broke (reset, closed early, truncated body). */
    RESET("reset", false),
    /** A stream ended (clean EOF) before it finished. */
    EOF("eof", false),
    /** A stream carried the upstream's own in-band error event. */
    ERROR_EVENT("error_event", false),
    /** The upstream answered something that is not what it claims (bad JSON, oversized). */
    BAD_RESPONSE("bad_response", false),
    /** A continuation started the answer over instead of continuing it. */
    RESTARTED("restarted", false),
    /** A stream event exceeded MAX_RESPONSE_BYTES after the commit point. */
    TOO_LARGE("too_large", false),
    /** The relay is shutting down. */
    SHUTDOWN("shutdown", false);

    /** The attempt result as the request log and metrics name it. */
    final String reason;
    private final boolean timeout;

    Kind(String reason, boolean timeout) {
      this.reason = reason;
      this.timeout = timeout;
    }

    /** A wait that ran out: waiting on the same route again is likely wasted time. */
    boolean isTimeout() {
      return timeout;
    }
  }

  final Kind kind;

  AttemptFailure(Kind kind, String message, Throwable cause) {
    super(message, cause, false, false);
    this.kind = kind;
  }
}
