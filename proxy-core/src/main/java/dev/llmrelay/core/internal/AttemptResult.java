package dev.llmrelay.core.internal;

import java.time.Duration;
import okhttp3.Call;
import okhttp3.Headers;
import okhttp3.Response;

/**
 * What one attempt produced: either a complete response (body read whole, connection returned)
 * or the start of a stream that reached its first {@code data:} event (response still open). Not
 * thread-safe; handed from the attempt to the delivering code on one thread.
 */
final class AttemptResult {
  final int status;
  final Headers headers;
  final byte[] body;
  final Duration retryAfter;
  /** The status is one the proxy retries (408, 429, 5xx). */
  final boolean retryableStatus;
  /** Another attempt follows this one (decided by the exchange's planning). */
  boolean retry;
  final Response streamResponse;
  final Call call;
  final SseEventScanner scanner;
  final IdleWatchdog watchdog;

  private AttemptResult(
      int status,
      Headers headers,
      byte[] body,
      Duration retryAfter,
      boolean retryableStatus,
      boolean retry,
      Response streamResponse,
      Call call,
      SseEventScanner scanner,
      IdleWatchdog watchdog) {
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.retryAfter = retryAfter;
    this.retryableStatus = retryableStatus;
    this.retry = retry;
    this.streamResponse = streamResponse;
    this.call = call;
    this.scanner = scanner;
    this.watchdog = watchdog;
  }

  static AttemptResult complete(int status, Headers headers, byte[] body, Duration retryAfter, boolean retryableStatus) {
    return new AttemptResult(status, headers, body, retryAfter, retryableStatus, false, null, null, null, null);
  }

  static AttemptResult stream(
      int status, Headers headers, Response response, Call call, SseEventScanner scanner, IdleWatchdog watchdog) {
    return new AttemptResult(status, headers, null, null, false, false, response, call, scanner, watchdog);
  }

  boolean isStream() {
    return streamResponse != null;
  }

  /**
   * Ends a stream that finished cleanly: closing without cancelling lets OkHttp read the (empty)
   * rest and pool the connection, so the next stream skips a TCP and TLS handshake.
   */
  void release() {
    if (streamResponse != null) {
      watchdog.close();
      streamResponse.close();
    }
  }

  /** Releases the open stream, if any: cancel first so that close does not drain. */
  void abandon() {
    if (streamResponse != null) {
      watchdog.close();
      call.cancel();
      streamResponse.close();
    }
  }
}
