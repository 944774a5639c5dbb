package dev.llmrelay.core;

import java.time.Duration;
import java.util.Objects;

/**
 * One upstream attempt of an exchange: its number, how it ended and how long it took (from
 * sending to the end of the attempt: the whole body for JSON, the first event for a stream).
 * Rendered as {@code 2:200@812ms}. Immutable.
 *
 * @param number the attempt number, from 1
 * @param result {@code 200}, {@code 503}, ... for an HTTP answer, else one of {@code timeout}
 *     (no headers in time), {@code idle_timeout} (the body went silent), {@code connect_error},
 *     {@code reset} (the connection broke), {@code bad_response}, {@code cancelled}
 * @param duration how long the attempt took
 * @param upstream the upstream's name, or null when the relay has a single route
 * @param model the model sent, or null when the relay did not choose one
 */
public record AttemptRecord(int number, String result, Duration duration, String upstream, String model) {
  /**
   * Checks the fields.
   *
   * @param number the attempt number, from 1
   * @param result an HTTP status or the failure kind
   * @param duration how long the attempt took
   * @param upstream the upstream's name, or null
   * @param model the model sent, or null
   */
  public AttemptRecord {
    Objects.requireNonNull(result, "result");
    Objects.requireNonNull(duration, "duration");
  }

  /**
   * The retry reason this result stands for: {@code http_5xx}, {@code http_429}, {@code timeout}...
   *
   * @return the reason, as logged and counted
   */
  public String retryReason() {
    if (!result.isEmpty() && Character.isDigit(result.charAt(0))) {
      if (result.equals("400")) {
        return "context_length_exceeded"; // the only 400 that is ever retried (on another model)
      }
      return result.startsWith("5") ? "http_5xx" : "http_" + result;
    }
    return result;
  }

  /**
   * An attempt on the single route.
   *
   * @param number the attempt number, from 1
   * @param result an HTTP status or the failure kind
   * @param duration how long the attempt took
   */
  public AttemptRecord(int number, String result, Duration duration) {
    this(number, result, duration, null, null);
  }

  /**
   * {@return the route as {@code model@upstream} (or the upstream alone), or null on the single
   * route}
   */
  public String route() {
    return upstream == null ? null : model == null ? upstream : model + "@" + upstream;
  }

  /** {@code 2:200@812ms}, with {@code (model@upstream)} appended when a route was chosen. */
  @Override
  public String toString() {
    StringBuilder s = new StringBuilder(32);
    appendTo(s);
    return s.toString();
  }

  void appendTo(StringBuilder s) {
    s.append(number).append(':').append(result).append('@').append(duration.toMillis()).append("ms");
    if (upstream != null) {
      s.append('(').append(route()).append(')');
    }
  }
}
