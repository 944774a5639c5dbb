package dev.llmrelay.core.internal;

import dev.llmrelay.core.InternalRelayException;
import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.RelayClosedException;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.UpstreamBadResponseException;
import dev.llmrelay.core.UpstreamCircuitOpenException;
import dev.llmrelay.core.UpstreamErrorException;
import dev.llmrelay.core.UpstreamTimeoutException;
import dev.llmrelay.core.UpstreamUnreachableException;
import java.time.Duration;

/**
 * The one place that maps how an exchange failed to what the client is told (status, code,
 * {@code x-should-retry}) and to the {@link Outcome} the metrics and the request log count, in the
 * convention of Jetty's proxy: an upstream timeout is 504, any other upstream failure 502, a
 * saturated, open-circuit or closing relay 503, a defect of the relay 500. Stateless.
 */
final class Failures {
  private Failures() {}

  /** What the client is told, and how the request is counted. */
  record Ending(RelayException error, Outcome outcome) {}

  /**
   * The attempts ended on {@code last}.
   *
   * @param exhausted the relay used up its own attempts (the client is told not to retry)
   */
  static Ending attemptsFailed(AttemptFailure last, int attempts, int maxShown, boolean exhausted) {
    String summary = last.getMessage() + " (" + attempts + " of " + maxShown + " attempts)";
    if (last.kind.isTimeout()) {
      return new Ending(new UpstreamTimeoutException(
          "The upstream did not answer in time: " + summary, attempts, exhausted, last), Outcome.TIMEOUT);
    }
    if (last.kind == AttemptFailure.Kind.BAD_RESPONSE) {
      return new Ending(new UpstreamBadResponseException(
          "The upstream answered something unusable: " + last.getMessage() + ".", attempts), Outcome.BAD_RESPONSE);
    }
    return new Ending(new UpstreamUnreachableException(
        "The upstream could not be reached: " + summary, attempts, exhausted, last), Outcome.UNREACHABLE);
  }

  /** An upstream error status whose body is not JSON (a CDN's HTML page). */
  static Ending notJsonError(int status, Duration retryAfter, boolean exhausted, int attempts) {
    return new Ending(new UpstreamErrorException(status, retryAfter, !exhausted, attempts), forStatus(status));
  }

  /** A success whose body is not the JSON it claims to be. */
  static Ending invalidJson(int status, int attempts) {
    return new Ending(new UpstreamBadResponseException(
        "The upstream answered HTTP " + status + " with a body that is not valid JSON.", attempts), Outcome.BAD_RESPONSE);
  }

  /** Every route's breaker is open; with attempts made, the request failed on the upstream's faults. */
  static Ending circuitOpen(UpstreamCircuitOpenException open, int attempts) {
    return new Ending(open, attempts == 0 ? Outcome.REJECTED : Outcome.UPSTREAM_5XX);
  }

  /** The relay is closing. */
  static Ending closed() {
    return new Ending(new RelayClosedException(), Outcome.REJECTED);
  }

  /** The gate refused the request (wait expired, queue full). */
  static Ending rejected(RelayException byGate) {
    return new Ending(byGate, Outcome.REJECTED);
  }

  /** A defect: an exception nobody expected. */
  static Ending unexpected(Throwable t, int attempts) {
    return new Ending(new InternalRelayException(attempts, t), Outcome.INTERNAL_ERROR);
  }

  /** How a passed-on upstream status is counted. */
  static Outcome forStatus(int code) {
    if (code >= 500) {
      return Outcome.UPSTREAM_5XX;
    }
    if (code >= 400) {
      return Outcome.UPSTREAM_4XX;
    }
    return Outcome.SUCCESS;
  }
}
