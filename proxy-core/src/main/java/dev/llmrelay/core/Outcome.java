package dev.llmrelay.core;

/** How one client request ended, from the proxy's point of view. Immutable. */
public enum Outcome {
  /** A 2xx (or other non-error) upstream response was delivered completely. */
  SUCCESS,
  /** The upstream answered 4xx and it was passed on (429 included once retries were exhausted). */
  UPSTREAM_4XX,
  /** The upstream answered 5xx and it was passed on after retries. */
  UPSTREAM_5XX,
  /** Every attempt timed out. */
  TIMEOUT,
  /** Every attempt failed to connect or was reset. */
  UNREACHABLE,
  /** The upstream answered something that is not what it claimed. */
  BAD_RESPONSE,
  /** The concurrency gate rejected the request (wait expired or queue full). */
  REJECTED,
  /** The client went away or the caller cancelled the exchange. */
  CLIENT_CANCELLED,
  /** A stream broke after the commit point; the client got an in-band error event. */
  MIDSTREAM_FAILURE,
  /**
   * A defect in the relay (or in the embedder's sink): an exception nobody expected. The client got
   * 500 {@code internal_error} when nothing had been sent yet; the log has the stack trace.
   */
  INTERNAL_ERROR
}
