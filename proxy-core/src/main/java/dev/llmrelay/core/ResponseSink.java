package dev.llmrelay.core;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * Where an exchange delivers the client response; implemented by the caller (the servlet adapter,
 * or an embedding application).
 *
 * <p>Call order, from one thread at a time: either exactly one {@link #onFailure} (nothing was
 * sent yet, the caller renders the error), or one {@link #onResponse}, then any number of {@link
 * #onBody} and {@link #flush}, then {@link #onComplete}. After the exchange was cancelled the sink
 * may receive no further call. An {@link IOException} from any method means the client has gone:
 * the exchange then cancels the upstream call and releases its permit.
 *
 * <p>Implementations need not be thread-safe: calls never overlap and are ordered
 * (happens-before) with respect to each other.
 */
public interface ResponseSink {
  /**
   * The response starts: status and end-to-end headers (hop-by-hop headers and Content-Length are
   * already removed; {@code X-Relay-Attempts} and, where it applies, {@code x-should-retry} are
   * added). For a stream this happens at the commit point.
   *
   * @param status the HTTP status
   * @param headers the end-to-end headers (name to values)
   * @throws IOException when the client has gone
   */
  void onResponse(int status, Map<String, List<String>> headers) throws IOException;

  /**
   * Body bytes; the array is reused after the call returns, so copy what you keep.
   *
   * @param buffer holds the bytes
   * @param offset where they start in {@code buffer}
   * @param length how many there are
   * @throws IOException when the client has gone
   */
  void onBody(byte[] buffer, int offset, int length) throws IOException;

  /**
   * Push what was written so far to the client (called at SSE event boundaries).
   *
   * @throws IOException when the client has gone
   */
  void flush() throws IOException;

  /**
   * The response is complete (also after an in-band stream error event).
   *
   * @throws IOException when the client has gone
   */
  void onComplete() throws IOException;

  /**
   * The exchange failed before anything was sent; render {@code error} to the client.
   *
   * @param error what went wrong; its status, code and message are what the client should receive
   */
  void onFailure(RelayException error);
}
