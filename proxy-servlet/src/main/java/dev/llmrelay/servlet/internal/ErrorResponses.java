package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Duration;

/**
 * The one place where a {@link RelayException} becomes an HTTP response (DESIGN.md §2): the
 * exception's status, {@code Content-Type: application/json}, {@code Retry-After} in whole seconds
 * (rounded up, so a client never comes back early) when the error has one, {@code x-should-retry:
 * false} when the proxy already spent the retries or retrying cannot help, {@code X-Relay-Attempts}
 * when upstream attempts were made, {@code X-Request-Id} always, and the OpenAI-shaped body of
 * {@link RelayException#toJson()}.
 *
 * <p>Every rejection of the servlets (404, 405, 401, 413, 400) and every failure the core reports
 * before a response started go through {@link #write}; nothing else in the module chooses an error
 * status. Stateless and thread-safe.
 */
public final class ErrorResponses {
  private ErrorResponses() {}

  /**
   * Writes {@code error} as the complete response, unless the response is already committed (then
   * nothing can be said and this returns false). Headers set before the call (such as {@code
   * Allow}) are kept.
   *
   * @param clientResponse the response to the client
   * @param error the failure
   * @param requestId the request's id, sent as {@code X-Request-Id}
   * @return true when the error was written
   * @throws IOException when the client has gone
   */
  public static boolean write(HttpServletResponse clientResponse, RelayException error, String requestId)
      throws IOException {
    if (clientResponse.isCommitted()) {
      return false;
    }
    clientResponse.resetBuffer();
    byte[] body = error.toJson();
    clientResponse.setStatus(error.status());
    clientResponse.setContentType("application/json");
    clientResponse.setHeader("X-Request-Id", requestId);
    clientResponse.setHeader("Cache-Control", "no-store");
    error.retryAfter()
        .ifPresent(d -> clientResponse.setHeader("Retry-After", Long.toString(retryAfterSeconds(d))));
    if (!error.shouldRetry()) {
      clientResponse.setHeader("x-should-retry", "false");
    }
    if (error.attempts() > 0) {
      clientResponse.setHeader("X-Relay-Attempts", Integer.toString(error.attempts()));
    }
    clientResponse.setContentLength(body.length);
    ServletOutputStream out = clientResponse.getOutputStream();
    out.write(body);
    out.flush();
    return true;
  }

  /** {@code Retry-After} seconds for a delay: rounded up, never negative. */
  static long retryAfterSeconds(Duration delay) {
    if (delay.isNegative() || delay.isZero()) {
      return 0;
    }
    long seconds = delay.getSeconds();
    return delay.getNano() > 0 ? seconds + 1 : seconds;
  }
}
