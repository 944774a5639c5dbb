package dev.llmrelay.core;

/**
 * A snapshot of the relay's counters (since start) and gauges (now). Counters are read one by
 * one, so a snapshot taken under load may be off by the requests finishing while it is taken.
 * Immutable.
 *
 * @param requests client requests finished
 * @param success requests that ended in success
 * @param timeouts requests that ended with every attempt timed out
 * @param connectErrors requests that ended unreachable
 * @param upstream4xx requests that ended with an upstream 4xx passed on
 * @param upstream5xx requests that ended with an upstream 5xx passed on
 * @param badResponses requests that ended with {@code upstream_bad_response}
 * @param retries retries performed (attempts beyond the first)
 * @param rejected requests rejected by the gate (wait expired or queue full)
 * @param clientCancels requests whose client went away or was cancelled
 * @param midStreamFailures streams that broke after the commit point
 * @param attemptTimeouts individual attempts that timed out
 * @param attemptConnectErrors individual attempts that failed to connect or were reset
 * @param inFlight requests holding a permit now
 * @param queued requests waiting for a permit now
 * @param permitsAvailable free permits now
 * @param requestLogDropped JSON request-log records dropped because the writer fell behind
 * @param retriesDenied failures returned instead of retried because the retry budget was spent
 * @param internalErrors requests that ended in a defect of the relay (500 {@code internal_error})
 * @param upstreamConnections upstream connections open now (pooled idle ones included)
 * @param idleUpstreamConnections upstream connections open and idle in the pool now
 */
public record RelayStats(
    long requests,
    long success,
    long timeouts,
    long connectErrors,
    long upstream4xx,
    long upstream5xx,
    long badResponses,
    long retries,
    long rejected,
    long clientCancels,
    long midStreamFailures,
    long attemptTimeouts,
    long attemptConnectErrors,
    int inFlight,
    int queued,
    int permitsAvailable,
    long requestLogDropped,
    long retriesDenied,
    long internalErrors,
    int upstreamConnections,
    int idleUpstreamConnections) {}
