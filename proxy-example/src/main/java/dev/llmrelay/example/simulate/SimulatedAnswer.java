package dev.llmrelay.example.simulate;

import java.util.Locale;

/**
 * The kind of answer the {@link SimulatedUpstream} chose for a request, as counted in
 * {@link SimulatorStats} and sent back in the {@value SimulatedUpstream#ANSWER_HEADER} response
 * header (as {@link #headerValue()}) whenever headers are sent at all. An answer is counted when
 * it is chosen, before its latency; a stream that the client abandons still counts as
 * {@link #OK_STREAM}.
 *
 * <p>Immutable and thread-safe.
 */
public enum SimulatedAnswer {
  /** 200 with a complete JSON body. */
  OK,
  /** 200 {@code text/event-stream}, ending with {@code data: [DONE]}. */
  OK_STREAM,
  /** No headers at all; the request was held (see {@link SimulatedFault#TIMEOUT}). */
  TIMEOUT,
  /** 500, 502 or 503 with an OpenAI-shaped JSON error. */
  SERVER_ERROR,
  /** 502 with a {@code text/html} page. */
  HTML_ERROR,
  /** 429 with {@code Retry-After: 1}. */
  RATE_LIMITED,
  /** 200 whose body was cut off by closing the connection (see {@link SimulatedFault#CUT}). */
  CUT,
  /** 400: the body was not a JSON object, or a simulator header was malformed. */
  INVALID_REQUEST,
  /** 413: the body was larger than the simulator accepts. */
  REQUEST_TOO_LARGE,
  /** 404: no such endpoint. */
  NOT_FOUND,
  /** 405: the endpoint exists but not for this method. */
  METHOD_NOT_ALLOWED;

  /** This answer in lower case with dashes, for example {@code server-error}. */
  public String headerValue() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }
}
