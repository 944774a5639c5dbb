package dev.llmrelay.core;

import java.time.Instant;

/**
 * The result of one upstream probe. Rendered as {@code {"status":"ok","upstream":"reachable",
 * "response_time_ms":245}} or, when not healthy, with {@code "status":"error"}, a {@code
 * message} and, for HTTP errors, {@code http_status}. Never contains a key. Immutable.
 *
 * @param upstream the state
 * @param responseTimeMillis how long the probe took
 * @param httpStatus the upstream status for {@link State#HTTP_ERROR}, else 0
 * @param message a short human explanation, empty when reachable
 * @param checkedAt when the probe finished
 */
public record HealthReport(
    State upstream, long responseTimeMillis, int httpStatus, String message, Instant checkedAt) {

  /** The upstream's state as a probe sees it. */
  public enum State {
    /** The probe got a 2xx answer. */
    REACHABLE("reachable"),
    /** The probe did not finish within {@code HEALTH_TIMEOUT_SECONDS}. */
    TIMEOUT("timeout"),
    /** The probe could not connect (refused, DNS, TLS, reset). */
    UNREACHABLE("unreachable"),
    /** The upstream answered with a non-2xx status (for example 401 for a bad key). */
    HTTP_ERROR("http_error");

    private final String wireName;

    State(String wireName) {
      this.wireName = wireName;
    }

    /** {@return the value of the {@code upstream} field in the JSON answer} */
    public String wireName() {
      return wireName;
    }
  }

  /** {@return true when the upstream is reachable} */
  public boolean healthy() {
    return upstream == State.REACHABLE;
  }

  /** {@return the HTTP status the health endpoint answers with: 200 when healthy, else 503} */
  public int endpointStatus() {
    return healthy() ? 200 : 503;
  }
}
