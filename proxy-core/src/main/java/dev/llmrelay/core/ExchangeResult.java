package dev.llmrelay.core;

import java.time.Duration;

/**
 * What happened to one exchange, reported once all its resources (permit, upstream connection)
 * were released. Immutable.
 *
 * @param requestId the request id
 * @param outcome how it ended
 * @param status the status the client was sent (0 when nothing was sent)
 * @param attempts upstream attempts made
 * @param streamed whether the response was an SSE stream
 * @param queueWait time spent waiting for a permit
 * @param timeToHeaders time from the exchange start to the final attempt's response headers
 *     (null when none arrived)
 * @param total time from the exchange start to its end
 * @param bytesOut response body bytes passed to the sink
 */
public record ExchangeResult(
    String requestId,
    Outcome outcome,
    int status,
    int attempts,
    boolean streamed,
    Duration queueWait,
    Duration timeToHeaders,
    Duration total,
    long bytesOut) {}
