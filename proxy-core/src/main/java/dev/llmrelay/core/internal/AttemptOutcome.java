package dev.llmrelay.core.internal;

import java.time.Duration;
import okhttp3.Headers;

/**
 * What one attempt produced, and nothing about what comes next: that is decided from it in one
 * place ({@link AttemptLoop}). Handed from the attempt to the loop on one thread.
 */
sealed interface AttemptOutcome {

  /** A complete, non-streamed response: the body was read whole and the connection returned. */
  record Answer(int status, Headers headers, byte[] body, Duration retryAfter) implements AttemptOutcome {
    /** A status the relay retries: 408, 429 and every 5xx. */
    boolean retryableStatus() {
      return status == 408 || status == 429 || status >= 500;
    }
  }

  /**
   * A stream that reached its first data event. For a continuation: shown to continue the answer,
   * with the chunks read while checking that ({@code held}), to be sent first.
   */
  record Streaming(int status, Headers headers, OpenStream stream, java.util.List<com.fasterxml.jackson.databind.node.ObjectNode> held)
      implements AttemptOutcome {
    Streaming(int status, Headers headers, OpenStream stream) {
      this(status, headers, stream, java.util.List.of());
    }
  }

  /** No usable response. */
  record Failed(AttemptFailure failure) implements AttemptOutcome {}
}
