package dev.llmrelay.core;

import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

/**
 * What happened to one client request, reported once all its resources (permit, upstream
 * connection) were released: enough to answer, for any failed request, whether it waited, how
 * many attempts it made, why each failed and what the client got. Immutable.
 *
 * @param requestId the request id
 * @param method the client's HTTP method
 * @param path the client's path (for rejected requests possibly not an {@link Endpoint})
 * @param model the requested model, or null
 * @param streamRequested the request's {@code stream} flag
 * @param outcome how it ended
 * @param status the status the client was sent (0 when nothing was sent)
 * @param errorCode the proxy's error code when it answered with its own error, else null
 * @param attemptTrail every upstream attempt, in order
 * @param streamed whether the response was an SSE stream
 * @param queueWait time spent waiting for a permit
 * @param timeToHeaders the final attempt's time from sending to its response headers (the
 *     upstream's time to first byte; null when no headers arrived)
 * @param timeToFirstEvent for a stream, the final attempt's time from sending to its first data
 *     event (the commit point), else null
 * @param total time from the exchange start to its end
 * @param bytesOut response body bytes passed to the client
 * @param tokens the upstream's reported usage, or null
 * @param clientGonePhase for {@link Outcome#CLIENT_CANCELLED}: {@code queued}, {@code backoff},
 *     {@code waiting_headers} or {@code streaming}; else null
 * @param midStreamCause for {@link Outcome#MIDSTREAM_FAILURE}: {@code idle_timeout}, {@code
 *     reset}, {@code eof}, {@code too_large} or {@code shutdown}; else null
 * @param continuations each attempt to continue a broken stream and how it went: {@code
 *     success}, {@code prefill_rejected}, {@code failed} or {@code not_continuable}
 */
public record ExchangeResult(
    String requestId,
    String method,
    String path,
    String model,
    boolean streamRequested,
    Outcome outcome,
    int status,
    String errorCode,
    List<AttemptRecord> attemptTrail,
    boolean streamed,
    Duration queueWait,
    Duration timeToHeaders,
    Duration timeToFirstEvent,
    Duration total,
    long bytesOut,
    TokenUsage tokens,
    String clientGonePhase,
    String midStreamCause,
    List<String> continuations) {

  /** Freezes the lists. */
  public ExchangeResult {
    attemptTrail = List.copyOf(attemptTrail);
    continuations = continuations == null ? List.of() : List.copyOf(continuations);
  }

  /** How many upstream attempts were made. */
  public int attempts() {
    return attemptTrail.size();
  }

  /** The trail as {@code 1:timeout@45000ms,2:200@812ms}, or {@code -} when there was none. */
  public String attemptSummary() {
    return attemptTrail.isEmpty()
        ? "-"
        : attemptTrail.stream().map(AttemptRecord::toString).collect(Collectors.joining(","));
  }
}
