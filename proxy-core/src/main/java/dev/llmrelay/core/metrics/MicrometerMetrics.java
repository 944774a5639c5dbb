package dev.llmrelay.core.metrics;

import dev.llmrelay.core.AttemptRecord;
import dev.llmrelay.core.ExchangeListener;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.HealthReport;
import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.UpstreamClient;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Publishes the relay's meters to a Micrometer {@link MeterRegistry}. Register it when building
 * the client: {@code UpstreamClient.builder(config).listener(new MicrometerMetrics(registry))}.
 * Without it the relay touches no Micrometer class (Micrometer is an optional dependency).
 *
 * <p>Names follow Prometheus conventions once rendered by a Prometheus registry, and every tag
 * has a small, fixed set of values (never a model id or a raw status):
 *
 * <ul>
 *   <li>{@code llmrelay_requests_total{outcome,stream}}: outcome is {@code success}, {@code
 *       upstream_4xx}, {@code upstream_5xx}, {@code timeout}, {@code unreachable}, {@code
 *       bad_response}, {@code rejected}, {@code client_cancelled}, {@code midstream_failure}
 *   <li>{@code llmrelay_upstream_attempts_total{result}}: {@code success}, {@code http_4xx},
 *       {@code http_429}, {@code http_5xx}, {@code timeout}, {@code idle_timeout}, {@code
 *       connect_error}, {@code reset}, {@code bad_response}, {@code cancelled}
 *   <li>{@code llmrelay_retries_total{reason}}, {@code llmrelay_rejected_total{reason}}, {@code
 *       llmrelay_client_disconnects_total{phase}}, {@code llmrelay_midstream_failures_total{cause}},
 *       {@code llmrelay_tokens_total{kind}}, {@code llmrelay_request_log_dropped_total}, {@code
 *       llmrelay_stream_continuations_total{result}}
 *   <li>histograms {@code llmrelay_request_duration_seconds}, {@code
 *       llmrelay_upstream_time_to_headers_seconds}, {@code
 *       llmrelay_stream_time_to_first_event_seconds}, {@code llmrelay_queue_wait_seconds}
 *   <li>gauges {@code llmrelay_inflight_requests}, {@code llmrelay_permits_available}, {@code
 *       llmrelay_queued_requests}, {@code llmrelay_upstream_up} (1 reachable, 0 not, NaN before
 *       the first probe)
 *   <li>the upstream connection pool ({@code okhttp_pool_*}).
 * </ul>
 *
 * <p>Thread-safe; recording is a few counter increments and timer updates per request.
 */
public final class MicrometerMetrics implements ExchangeListener {
  /** The outcome tag values, one per {@link Outcome}. */
  public static final List<String> OUTCOMES =
      java.util.Arrays.stream(Outcome.values()).map(o -> o.name().toLowerCase(Locale.ROOT)).toList();
  /** The attempt result tag values. */
  public static final List<String> ATTEMPT_RESULTS =
      List.of("success", "http_4xx", "http_429", "http_5xx", "timeout", "idle_timeout", "first_event_timeout", "connect_error", "reset", "eof", "error_event", "restarted", "bad_response", "cancelled");
  /** The retry reason tag values. */
  public static final List<String> RETRY_REASONS =
      List.of("http_5xx", "http_429", "http_408", "context_length_exceeded", "timeout", "idle_timeout", "first_event_timeout", "connect_error", "reset", "eof", "error_event",
          "restarted", "prefill_rejected", "bad_response");
  /** The rejection reason tag values. */
  public static final List<String> REJECT_REASONS =
      List.of("concurrency_limit", "queue_full", "upstream_circuit_open", "relay_closed", "request_too_large", "invalid_json", "invalid_proxy_key", "not_found", "method_not_allowed",
          "incomplete_body", "request_body_timeout", "shared_state_unavailable",
          // the job endpoints' refusals
          "async_requires_upstream_key", "async_stream_not_supported", "invalid_parameter", "job_not_found",
          "job_cancelled", "job_expired", "job_queue_full", "job_store_unavailable", "idempotency_key_reused");
  /** The stream continuation result tag values. */
  public static final List<String> CONTINUATION_RESULTS = List.of("success", "broken", "restarted", "prefill_rejected", "failed", "not_continuable");
  /** The client disconnect phase tag values. */
  public static final List<String> DISCONNECT_PHASES = List.of("queued", "backoff", "waiting_headers", "streaming");
  /** The mid-stream failure cause tag values. */
  public static final List<String> MIDSTREAM_CAUSES = List.of("idle_timeout", "reset", "eof", "error_event", "too_large", "shutdown");

  private static final Duration MIN_EXPECTED = Duration.ofMillis(1);
  private static final Duration MAX_EXPECTED = Duration.ofMinutes(10);

  private final MeterRegistry registry;
  private final Map<Outcome, Counter> requestsStreamed = new EnumMap<>(Outcome.class);
  private final Map<Outcome, Counter> requestsPlain = new EnumMap<>(Outcome.class);
  private final Map<String, Counter> attempts;
  private final Map<String, Counter> retries;
  private final Map<String, Counter> rejected;
  private final Map<String, Counter> disconnects;
  private final Map<String, Counter> midStream;
  private final Map<String, Counter> continuationResults;
  private final Counter promptTokens;
  private final Counter completionTokens;
  private final Timer requestDuration;
  private final Timer timeToHeaders;
  private final Timer timeToFirstEvent;
  private final Timer queueWait;
  private final java.util.Set<String> allowedModels = ConcurrentHashMap.newKeySet();
  private final java.util.Set<String> routeGauges = ConcurrentHashMap.newKeySet();
  private volatile UpstreamClient client;
  private volatile long routesCheckedAt;

  /**
   * Creates every counter and histogram at once (so dashboards show zeros, not gaps); gauges are
   * bound when the client starts.
   *
   * @param registry where the meters are registered
   */
  public MicrometerMetrics(MeterRegistry registry) {
    this.registry = registry;
    for (Outcome o : Outcome.values()) {
      String tag = o.name().toLowerCase(Locale.ROOT);
      requestsStreamed.put(o, counter("llmrelay.requests", "Client requests by how they ended", "outcome", tag, "stream", "true"));
      requestsPlain.put(o, counter("llmrelay.requests", "Client requests by how they ended", "outcome", tag, "stream", "false"));
    }
    attempts = counters("llmrelay.upstream.attempts", "Upstream attempts by result", "result", ATTEMPT_RESULTS);
    retries = counters("llmrelay.retries", "Retries by the failure that caused them", "reason", RETRY_REASONS);
    rejected = counters("llmrelay.rejected", "Requests refused without an upstream attempt", "reason", REJECT_REASONS);
    disconnects = counters("llmrelay.client.disconnects", "Clients that went away, by phase", "phase", DISCONNECT_PHASES);
    midStream = counters("llmrelay.midstream.failures", "Streams broken after the commit point", "cause", MIDSTREAM_CAUSES);
    continuationResults = counters("llmrelay.stream.continuations", "Attempts to continue a broken stream", "result", CONTINUATION_RESULTS);
    promptTokens = counter("llmrelay.tokens", "Tokens reported by the upstream", "kind", "prompt");
    completionTokens = counter("llmrelay.tokens", "Tokens reported by the upstream", "kind", "completion");
    requestDuration = timer("llmrelay.request.duration", "Client request duration, queue wait included");
    timeToHeaders = timer("llmrelay.upstream.time.to.headers", "Final attempt: send to response headers");
    timeToFirstEvent = timer("llmrelay.stream.time.to.first.event", "Final attempt of a stream: send to first data event");
    queueWait = timer("llmrelay.queue.wait", "Time waiting for a concurrency permit");
  }

  @Override
  public void clientStarted(UpstreamClient client) {
    Gauge.builder("llmrelay.inflight.requests", client, c -> c.stats().inFlight())
        .description("Requests holding a permit")
        .register(registry);
    Gauge.builder("llmrelay.permits.available", client, c -> c.stats().permitsAvailable())
        .description("Free concurrency permits")
        .register(registry);
    Gauge.builder("llmrelay.queued.requests", client, c -> c.stats().queued())
        .description("Requests waiting for a permit")
        .register(registry);
    for (dev.llmrelay.core.UpstreamConfig upstream : client.config().upstreams()) {
      Gauge.builder("llmrelay.upstream.up", client, c -> upstreamUp(c, upstream.name()))
          .description("1 when the last probe of the upstream succeeded, 0 when it failed")
          .tag("upstream", upstream.name())
          .register(registry);
    }
    this.client = client;
    for (dev.llmrelay.core.UpstreamConfig u : client.config().upstreams()) {
      allowedModels.addAll(u.models());
    }
    client.config().modelFallbacks().forEach((model, fallbacks) -> {
      allowedModels.add(model);
      allowedModels.addAll(fallbacks);
    });
    FunctionCounter.builder("llmrelay.request.log.dropped", client, c -> c.stats().requestLogDropped())
        .description("JSON request-log records dropped because the writer fell behind")
        .register(registry);
    // The upstream pool, under the names of Micrometer's OkHttpConnectionPoolMetrics, read from the
    // public stats (the pool itself is internal).
    Gauge.builder("okhttp.pool.connection.count", client, c -> c.stats().upstreamConnections() - c.stats().idleUpstreamConnections())
        .description("Upstream connections carrying a call")
        .baseUnit("connections")
        .tags("client", "llmrelay", "state", "active")
        .register(registry);
    Gauge.builder("okhttp.pool.connection.count", client, c -> c.stats().idleUpstreamConnections())
        .description("Upstream connections idle in the pool")
        .baseUnit("connections")
        .tags("client", "llmrelay", "state", "idle")
        .register(registry);
    FunctionCounter.builder("llmrelay.retry.budget.denied", client, c -> c.stats().retriesDenied())
        .description("Retries the retry budget refused: the last failure was returned instead (retry_budget)")
        .register(registry);
  }

  private double upstreamUp(UpstreamClient client, String upstream) {
    if (client.config().upstreams().size() == 1) {
      return client.healthProbe().lastReport().map(r -> r.upstream() == HealthReport.State.REACHABLE ? 1.0 : 0.0).orElse(Double.NaN);
    }
    // Several upstreams: the heartbeat's reports per upstream (checkEach reuses cached results).
    java.util.List<dev.llmrelay.core.UpstreamHealth> each = lastEach;
    if (each == null) {
      return Double.NaN;
    }
    for (dev.llmrelay.core.UpstreamHealth h : each) {
      if (h.name().equals(upstream)) {
        return h.report().healthy() ? 1.0 : 0.0;
      }
    }
    return Double.NaN;
  }

  private volatile java.util.List<dev.llmrelay.core.UpstreamHealth> lastEach;

  /**
   * Registers gauges for routes whose model is allow-listed (named in {@code UPSTREAM_<n>_MODELS}
   * or {@code MODEL_FALLBACKS}) or that send bodies unchanged, at most once a second: a model name
   * that only a request chose never becomes a label.
   */
  private void registerRouteGauges() {
    long now = System.nanoTime();
    if (client == null || now - routesCheckedAt < 1_000_000_000L) {
      return;
    }
    routesCheckedAt = now;
    if (client.config().upstreams().size() > 1) {
      client.healthProbe().checkEach().thenAccept(each -> lastEach = each);
    }
    for (dev.llmrelay.core.RouteStatus route : client.routes()) {
      String model = route.model() == null ? "" : route.model();
      if (!model.isEmpty() && !allowedModels.contains(model)) {
        continue;
      }
      String key = route.upstream() + '\u0000' + model;
      if (routeGauges.add(key)) {
        UpstreamClient c = client;
        Gauge.builder("llmrelay.route.attempt.timeout", c, x -> routeValue(x, route.upstream(), route.model(), true))
            .description("A route's current first-attempt time-to-headers limit (adaptive)")
            .baseUnit("seconds")
            .tags("upstream", route.upstream(), "model", model)
            .register(registry);
        Gauge.builder("llmrelay.route.breaker.open", c, x -> routeValue(x, route.upstream(), route.model(), false))
            .description("1 while a route's circuit breaker is open or half-open, else 0")
            .tags("upstream", route.upstream(), "model", model)
            .register(registry);
      }
    }
  }

  private static double routeValue(UpstreamClient client, String upstream, String model, boolean timeout) {
    for (dev.llmrelay.core.RouteStatus r : client.routes()) {
      if (r.upstream().equals(upstream) && java.util.Objects.equals(r.model(), model)) {
        return timeout ? r.attemptTimeout().toMillis() / 1000.0 : ("closed".equals(r.breaker()) ? 0.0 : 1.0);
      }
    }
    return Double.NaN;
  }

  @Override
  public void exchangeFinished(ExchangeResult r) {
    registerRouteGauges();
    List<AttemptRecord> trail = r.attemptTrail();
    for (int i = 0; i < trail.size(); i++) {
      AttemptRecord a = trail.get(i);
      increment(attempts, attemptResult(a.result()));
      if (i < trail.size() - 1) {
        increment(retries, a.retryReason());
      }
    }
    if (r.outcome() == Outcome.REJECTED && r.errorCode() != null) {
      increment(rejected, r.errorCode());
    }
    if (r.clientGonePhase() != null) {
      increment(disconnects, r.clientGonePhase());
    }
    if (r.midStreamCause() != null) {
      increment(midStream, r.midStreamCause());
    }
    for (String c : r.continuations()) {
      increment(continuationResults, c);
    }
    if (r.tokens() != null) {
      promptTokens.increment(r.tokens().promptTokens());
      completionTokens.increment(r.tokens().completionTokens());
    }
    if (r.outcome() != Outcome.REJECTED || !r.queueWait().isZero()) {
      queueWait.record(r.queueWait());
    }
    requestDuration.record(r.total());
    if (r.timeToHeaders() != null) {
      timeToHeaders.record(r.timeToHeaders());
    }
    if (r.timeToFirstEvent() != null) {
      timeToFirstEvent.record(r.timeToFirstEvent());
    }
    // Last: whoever sees the request counted sees all of its other meters recorded too.
    (r.streamed() || r.streamRequested() ? requestsStreamed : requestsPlain).get(r.outcome()).increment();
  }

  /** Buckets an attempt result into the bounded tag values. */
  static String attemptResult(String result) {
    if (!result.isEmpty() && Character.isDigit(result.charAt(0))) {
      if (result.equals("429")) {
        return "http_429";
      }
      return switch (result.charAt(0)) {
        case '5' -> "http_5xx";
        case '4' -> "http_4xx";
        default -> "success";
      };
    }
    return result;
  }

  private void increment(Map<String, Counter> counters, String tag) {
    Counter c = counters.get(tag);
    if (c != null) {
      c.increment();
    }
  }

  private Map<String, Counter> counters(String name, String description, String tag, List<String> values) {
    Map<String, Counter> map = new ConcurrentHashMap<>();
    for (String v : values) {
      map.put(v, counter(name, description, tag, v));
    }
    return Map.copyOf(map);
  }

  private Counter counter(String name, String description, String... tags) {
    return Counter.builder(name).description(description).tags(tags).register(registry);
  }

  private Timer timer(String name, String description) {
    return Timer.builder(name)
        .description(description)
        .publishPercentileHistogram()
        .minimumExpectedValue(MIN_EXPECTED)
        .maximumExpectedValue(MAX_EXPECTED)
        .register(registry);
  }
}
