package dev.llmrelay.example.simulate;

import java.util.Locale;
import java.util.Optional;

/**
 * A fault a request can ask the {@link SimulatedUpstream} for with the
 * {@value SimulatedUpstream#FAULT_HEADER} header, instead of leaving it to the configured rates.
 * The header value is {@link #headerValue()}: {@code timeout}, {@code error}, {@code html-error},
 * {@code rate-limit}, {@code cut} or {@code none}.
 *
 * <p>Immutable and thread-safe.
 */
public enum SimulatedFault {
  /** Answer well, whatever the rates say. */
  NONE("none"),
  /**
   * Never send headers: hold the request until the client goes away (noticed at once, no polling)
   * or {@link SimulatorConfig#timeoutHold()} passes, then close the connection.
   */
  TIMEOUT("timeout"),
  /**
   * Answer 500, 502 or 503 (picked by the seeded draw; always 502 on {@code /v1/models} and
   * {@code /v1/key}, which draw nothing) with an OpenAI-shaped JSON error.
   */
  ERROR("error"),
  /** Answer 502 with a {@code text/html} page, as a CDN in front of the API would. */
  HTML_ERROR("html-error"),
  /** Answer 429 with {@code Retry-After: 1} and an OpenAI-shaped JSON error. */
  RATE_LIMIT("rate-limit"),
  /**
   * Close the connection in the middle of the answer: a stream after half of its {@code data:}
   * events (at least one) and without {@code [DONE]}; a JSON answer after half of the bytes its
   * {@code Content-Length} announced.
   */
  CUT("cut");

  private final String headerValue;

  SimulatedFault(String headerValue) {
    this.headerValue = headerValue;
  }

  /** The value of the {@value SimulatedUpstream#FAULT_HEADER} header that asks for this fault. */
  public String headerValue() {
    return headerValue;
  }

  /** The fault a header value names, ignoring case and surrounding blanks; empty if none does. */
  public static Optional<SimulatedFault> fromHeaderValue(String value) {
    if (value == null) {
      return Optional.empty();
    }
    String wanted = value.trim().toLowerCase(Locale.ROOT);
    for (SimulatedFault fault : values()) {
      if (fault.headerValue.equals(wanted)) {
        return Optional.of(fault);
      }
    }
    return Optional.empty();
  }
}
