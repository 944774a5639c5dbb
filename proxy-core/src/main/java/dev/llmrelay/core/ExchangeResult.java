package dev.llmrelay.core;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What happened to one client request, reported once all its resources (permit, upstream
 * connection) were released: enough to answer, for any failed request, whether it waited, how
 * many attempts it made, why each failed, why the relay stopped trying and what the client got.
 * Built with {@link #builder(String)}. Immutable and thread-safe.
 */
public final class ExchangeResult {
  private final String requestId;
  private final String method;
  private final String path;
  private final String model;
  private final boolean streamRequested;
  private final Outcome outcome;
  private final int status;
  private final String errorCode;
  private final List<AttemptRecord> attemptTrail;
  private final String stopReason;
  private final boolean streamed;
  private final Duration queueWait;
  private final Duration timeToHeaders;
  private final Duration timeToFirstEvent;
  private final Duration total;
  private final long bytesOut;
  private final TokenUsage tokens;
  private final String clientGonePhase;
  private final String midStreamCause;
  private final List<String> continuations;

  private ExchangeResult(Builder b) {
    this.requestId = Objects.requireNonNull(b.requestId, "requestId");
    this.method = b.method;
    this.path = b.path;
    this.model = b.model;
    this.streamRequested = b.streamRequested;
    this.outcome = Objects.requireNonNull(b.outcome, "outcome");
    this.status = b.status;
    this.errorCode = b.errorCode;
    this.attemptTrail = List.copyOf(b.attemptTrail);
    this.stopReason = b.stopReason;
    this.streamed = b.streamed;
    this.queueWait = b.queueWait;
    this.timeToHeaders = b.timeToHeaders;
    this.timeToFirstEvent = b.timeToFirstEvent;
    this.total = b.total;
    this.bytesOut = b.bytesOut;
    this.tokens = b.tokens;
    this.clientGonePhase = b.clientGonePhase;
    this.midStreamCause = b.midStreamCause;
    this.continuations = List.copyOf(b.continuations);
  }

  /**
   * A builder for the result of the request {@code requestId}; every other field has a neutral default.
   *
   * @param requestId the request id
   * @return a new builder
   */
  public static Builder builder(String requestId) {
    return new Builder(requestId);
  }

  /** {@return the request id} */
  public String requestId() {
    return requestId;
  }

  /** {@return the client's HTTP method ({@code ""} when unknown)} */
  public String method() {
    return method;
  }

  /**
   * {@return the client's path (for rejected requests possibly not an {@link Endpoint}; {@code ""}
   * when unknown)}
   */
  public String path() {
    return path;
  }

  /** {@return the requested model, or null} */
  public String model() {
    return model;
  }

  /** {@return the request's {@code stream} flag} */
  public boolean streamRequested() {
    return streamRequested;
  }

  /** {@return how the request ended} */
  public Outcome outcome() {
    return outcome;
  }

  /** {@return the status the client was sent (0 when nothing was sent)} */
  public int status() {
    return status;
  }

  /** {@return the proxy's error code when it answered with its own error, else null} */
  public String errorCode() {
    return errorCode;
  }

  /** {@return every upstream attempt, in order (the first response's and every continuation's)} */
  public List<AttemptRecord> attemptTrail() {
    return attemptTrail;
  }

  /**
   * Why the relay made no further attempt although the last one failed, or null when there was
   * nothing to retry: {@code attempts_exhausted} ({@code MAX_ATTEMPTS} per route or {@code
   * MAX_ROUTE_ATTEMPTS} reached; the client is told not to retry), {@code retry_budget} (the retry
   * budget refused one; the client may retry), {@code retry_after_too_long} (the upstream asked
   * for a longer wait than {@code RETRY_AFTER_MAX_SECONDS}), {@code no_route} (no other route could
   * take it), {@code circuit_open} (every route's breaker is open).
   *
   * @return the stop reason, or null
   */
  public String stopReason() {
    return stopReason;
  }

  /** {@return whether the response was an SSE stream} */
  public boolean streamed() {
    return streamed;
  }

  /** {@return time spent waiting for a permit} */
  public Duration queueWait() {
    return queueWait;
  }

  /**
   * The final attempt's time from sending to its response headers (the upstream's time to first
   * byte), or null when no headers arrived.
   *
   * @return the time to headers, or null
   */
  public Duration timeToHeaders() {
    return timeToHeaders;
  }

  /**
   * For a stream, the final attempt's time from sending to its first data event (the commit point), else null.
   *
   * @return the time to the first event, or null
   */
  public Duration timeToFirstEvent() {
    return timeToFirstEvent;
  }

  /** {@return time from the exchange start to its end} */
  public Duration total() {
    return total;
  }

  /** {@return response body bytes passed to the client, the proxy's own error bodies included} */
  public long bytesOut() {
    return bytesOut;
  }

  /** {@return the upstream's reported usage, or null} */
  public TokenUsage tokens() {
    return tokens;
  }

  /**
   * For {@link Outcome#CLIENT_CANCELLED}: {@code queued}, {@code backoff}, {@code waiting_headers}
   * or {@code streaming}; else null.
   *
   * @return the phase, or null
   */
  public String clientGonePhase() {
    return clientGonePhase;
  }

  /**
   * For {@link Outcome#MIDSTREAM_FAILURE}: {@code idle_timeout}, {@code reset}, {@code eof},
   * {@code error_event}, {@code too_large} or {@code shutdown}; else null.
   *
   * @return the cause, or null
   */
  public String midStreamCause() {
    return midStreamCause;
  }

  /**
   * Each attempt to continue a broken stream and how it went: {@code success} (it finished the
   * answer), {@code broken} (it was forwarded, then broke too), {@code restarted} (it started the
   * answer over instead of continuing it; never forwarded), {@code prefill_rejected} (the route
   * refused the prefilled request), {@code failed} (no usable stream), or {@code not_continuable}
   * (the stream could not be continued at all).
   *
   * @return one result per continuation attempt, in order; empty when none was made
   */
  public List<String> continuations() {
    return continuations;
  }

  /** {@return how many upstream attempts were made} */
  public int attempts() {
    return attemptTrail.size();
  }

  /**
   * {@return the trail as {@code 1:timeout@45000ms,2:200@812ms}, or {@code -} when there was none}
   */
  public String attemptSummary() {
    if (attemptTrail.isEmpty()) {
      return "-";
    }
    StringBuilder s = new StringBuilder(24 * attemptTrail.size());
    for (int i = 0; i < attemptTrail.size(); i++) {
      if (i > 0) {
        s.append(',');
      }
      attemptTrail.get(i).appendTo(s);
    }
    return s.toString();
  }

  @Override
  public String toString() {
    return "ExchangeResult[" + requestId + " " + method + " " + path + " " + outcome + " " + status
        + (errorCode == null ? "" : " " + errorCode) + " attempts=" + attemptSummary()
        + (stopReason == null ? "" : " stopped=" + stopReason) + "]";
  }

  /** Builds an {@link ExchangeResult}. Not thread-safe. */
  public static final class Builder {
    private final String requestId;
    private String method = "";
    private String path = "";
    private String model;
    private boolean streamRequested;
    private Outcome outcome;
    private int status;
    private String errorCode;
    private List<AttemptRecord> attemptTrail = List.of();
    private String stopReason;
    private boolean streamed;
    private Duration queueWait = Duration.ZERO;
    private Duration timeToHeaders;
    private Duration timeToFirstEvent;
    private Duration total = Duration.ZERO;
    private long bytesOut;
    private TokenUsage tokens;
    private String clientGonePhase;
    private String midStreamCause;
    private List<String> continuations = List.of();

    private Builder(String requestId) {
      this.requestId = Objects.requireNonNull(requestId, "requestId");
    }

    /**
     * The client's method and path.
     *
     * @param method the client's HTTP method
     * @param path the client's path
     * @return this builder
     */
    public Builder request(String method, String path) {
      this.method = Objects.requireNonNull(method, "method");
      this.path = Objects.requireNonNull(path, "path");
      return this;
    }

    /**
     * The requested model (may be null) and the request's {@code stream} flag.
     *
     * @param model the requested model, or null
     * @param streamRequested the request's {@code stream} flag
     * @return this builder
     */
    public Builder model(String model, boolean streamRequested) {
      this.model = model;
      this.streamRequested = streamRequested;
      return this;
    }

    /**
     * How it ended, the status sent (0 = none) and the proxy's error code (or null).
     *
     * @param outcome how the request ended
     * @param status the status sent to the client, 0 when none was
     * @param errorCode the proxy's error code, or null
     * @return this builder
     */
    public Builder outcome(Outcome outcome, int status, String errorCode) {
      this.outcome = Objects.requireNonNull(outcome, "outcome");
      this.status = status;
      this.errorCode = errorCode;
      return this;
    }

    /**
     * The upstream attempts, in order, and why no further one was made (or null).
     *
     * @param trail every upstream attempt, in order
     * @param stopReason why no further attempt was made, or null
     * @return this builder
     */
    public Builder attempts(List<AttemptRecord> trail, String stopReason) {
      this.attemptTrail = Objects.requireNonNull(trail, "trail");
      this.stopReason = stopReason;
      return this;
    }

    /**
     * Whether the response was an SSE stream.
     *
     * @param streamed whether the response was an SSE stream
     * @return this builder
     */
    public Builder streamed(boolean streamed) {
      this.streamed = streamed;
      return this;
    }

    /**
     * Queue wait, time to headers and to the first event (both may be null), and the total.
     *
     * @param queueWait the time spent waiting for a permit
     * @param timeToHeaders the final attempt's time to response headers, or null
     * @param timeToFirstEvent the final attempt's time to its first event, or null
     * @param total the time from the exchange start to its end
     * @return this builder
     */
    public Builder timings(Duration queueWait, Duration timeToHeaders, Duration timeToFirstEvent, Duration total) {
      this.queueWait = Objects.requireNonNull(queueWait, "queueWait");
      this.timeToHeaders = timeToHeaders;
      this.timeToFirstEvent = timeToFirstEvent;
      this.total = Objects.requireNonNull(total, "total");
      return this;
    }

    /**
     * Response body bytes sent to the client.
     *
     * @param bytesOut the bytes sent
     * @return this builder
     */
    public Builder bytesOut(long bytesOut) {
      this.bytesOut = bytesOut;
      return this;
    }

    /**
     * The upstream's reported usage, or null.
     *
     * @param tokens the usage, or null
     * @return this builder
     */
    public Builder tokens(TokenUsage tokens) {
      this.tokens = tokens;
      return this;
    }

    /**
     * Where a client that went away left (or null).
     *
     * @param phase the phase, as {@link ExchangeResult#clientGonePhase()} lists them, or null
     * @return this builder
     */
    public Builder clientGonePhase(String phase) {
      this.clientGonePhase = phase;
      return this;
    }

    /**
     * Why a stream broke after the commit point (or null).
     *
     * @param cause the cause, as {@link ExchangeResult#midStreamCause()} lists them, or null
     * @return this builder
     */
    public Builder midStreamCause(String cause) {
      this.midStreamCause = cause;
      return this;
    }

    /**
     * The continuation attempts' results.
     *
     * @param continuations one result per continuation attempt, in order
     * @return this builder
     */
    public Builder continuations(List<String> continuations) {
      this.continuations = Objects.requireNonNull(continuations, "continuations");
      return this;
    }

    /**
     * The result; requires {@link #outcome}.
     *
     * @return the result
     */
    public ExchangeResult build() {
      return new ExchangeResult(this);
    }
  }
}
