package dev.llmrelay.core;

/**
 * The upstream answered, but not with what it claimed (a 200 whose JSON does not parse, or a body
 * larger than {@code MAX_RESPONSE_BYTES}): HTTP 502, code {@code upstream_bad_response}.
 * Immutable and thread-safe.
 */
public final class UpstreamBadResponseException extends RelayException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the error.
   *
   * @param message what was wrong
   * @param attempts attempts made
   */
  public UpstreamBadResponseException(String message, int attempts) {
    super(502, "upstream_bad_response", message, null, false, attempts, null);
  }
}
