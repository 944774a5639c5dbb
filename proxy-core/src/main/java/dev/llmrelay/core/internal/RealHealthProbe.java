package dev.llmrelay.core.internal;

import dev.llmrelay.core.HealthReport;
import dev.llmrelay.core.RelayConfig;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import okhttp3.Call;
import okhttp3.Callback;
import okhttp3.HttpUrl;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import okio.Buffer;
import okio.BufferedSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Probes the upstream with a GET that spends no tokens: {@code {base}{HEALTH_PATH}}, or, for
 * OpenRouter with a key and the default path, {@code {base}/key}, which also proves the key valid.
 *
 * <p>Single flight: while a probe runs, every caller gets the same future; a finished report is
 * reused for {@code HEALTH_CACHE_MILLIS}. The heartbeat probes every {@code
 * HEALTH_INTERVAL_SECONDS} and logs each change of state. Probes use OkHttp's async dispatcher on
 * the shared pool and never take a chat permit. Thread-safe.
 *
 * <p>{@code HEALTH_TIMEOUT_SECONDS} bounds the whole probe, body included, by a timer on the
 * client's scheduler that cancels the call, as the chat attempts are timed; not by OkHttp's call or
 * read timeout. Why: those are Okio {@code AsyncTimeout}s, and the first one scheduled starts
 * Okio's process-wide "Okio Watchdog" thread, which no API stops and which outlives a closed client
 * by 60 s (a webapp undeployed within that minute left it behind). For the same reason the probe
 * reads the (small) response body to its end before closing it: closing a body with bytes left
 * makes OkHttp drain it under a deadline, which also starts the watchdog.
 */
final class RealHealthProbe implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger("dev.llmrelay.health");

  private final RelayConfig config;
  private final String upstreamName;
  private final OkHttpClient probeClient;
  private final ScheduledExecutorService scheduler;
  private final Clock clock;
  private final Request probeRequest;
  private CompletableFuture<HealthReport> inFlight;
  private HealthReport last;
  private long lastFinishedNanos;
  private volatile ScheduledFuture<?> heartbeat;
  private volatile boolean closed;

  RealHealthProbe(RelayConfig config, OkHttpClient shared, ScheduledExecutorService scheduler, Clock clock) {
    this(config, config.upstreams().get(0), shared, scheduler, clock);
  }

  RealHealthProbe(
      RelayConfig config,
      dev.llmrelay.core.UpstreamConfig upstream,
      OkHttpClient shared,
      ScheduledExecutorService scheduler,
      Clock clock) {
    this.config = config;
    this.upstreamName = upstream.name();
    this.scheduler = scheduler;
    this.clock = clock;
    // Same pool and dispatcher; a GET may be retried by OkHttp on a stale pooled connection.
    this.probeClient =
        shared.newBuilder()
            .retryOnConnectionFailure(true)
            .connectTimeout(min(config.connectTimeout(), config.healthTimeout()))
            .build();
    HttpUrl base = HttpUrl.get(upstream.baseUrl().toString());
    boolean openRouterKey =
        upstream.key().isPresent()
            && base.host().endsWith("openrouter.ai")
            && RelayConfig.DEFAULT_HEALTH_PATH.equals(config.healthPath());
    String path = openRouterKey ? "/key" : config.healthPath();
    Request.Builder request =
        new Request.Builder().url(base.newBuilder().addPathSegments(path.substring(1)).build()).get();
    upstream.key().ifPresent(key -> request.header("Authorization", "Bearer " + key));
    this.probeRequest = request.build();
  }

  void startHeartbeat() {
    long period = config.healthInterval().toMillis();
    if (period > 0) {
      heartbeat =
          scheduler.scheduleWithFixedDelay(this::beat, 0, period, TimeUnit.MILLISECONDS);
    }
  }

  private void beat() {
    if (!closed) {
      probe(true);
    }
  }

  public CompletionStage<HealthReport> check() {
    return probe(false);
  }

  private CompletionStage<HealthReport> probe(boolean fresh) {
    CompletableFuture<HealthReport> future;
    synchronized (this) {
      if (inFlight != null) {
        return inFlight;
      }
      long cache = config.healthCache().toNanos();
      if (!fresh && last != null && cache > 0 && System.nanoTime() - lastFinishedNanos < cache) {
        return CompletableFuture.completedFuture(last);
      }
      future = new CompletableFuture<>();
      inFlight = future;
    }
    long start = System.nanoTime();
    Call call = probeClient.newCall(probeRequest);
    AtomicBoolean timedOut = new AtomicBoolean();
    ScheduledFuture<?> timer;
    try {
      timer = scheduler.schedule(() -> {
        timedOut.set(true);
        call.cancel();
      }, config.healthTimeout().toNanos(), TimeUnit.NANOSECONDS);
    } catch (RuntimeException closing) {
      done(future, new HealthReport(HealthReport.State.UNREACHABLE, 0, 0, "the relay is closing", clock.instant()));
      return future;
    }
    try {
      call.enqueue(
          new Callback() {
            @Override
            public void onResponse(Call c, Response response) {
              try (response) {
                int code = response.code();
                try {
                  drain(response.body().source());
                } catch (IOException e) {
                  done(future, failure(e, timedOut.get(), elapsedMillis(start)));
                  return;
                } finally {
                  timer.cancel(false);
                }
                long ms = elapsedMillis(start);
                if (code >= 200 && code < 300) {
                  done(future, new HealthReport(HealthReport.State.REACHABLE, ms, 0, "", clock.instant()));
                } else {
                  done(
                      future,
                      new HealthReport(
                          HealthReport.State.HTTP_ERROR, ms, code, "the upstream answered HTTP " + code, clock.instant()));
                }
              }
            }

            @Override
            public void onFailure(Call c, IOException e) {
              timer.cancel(false);
              done(future, failure(e, timedOut.get(), elapsedMillis(start)));
            }
          });
    } catch (RuntimeException e) {
      timer.cancel(false);
      // The dispatcher was shut down (the client is closing).
      done(future, new HealthReport(HealthReport.State.UNREACHABLE, 0, 0, "the relay is closing", clock.instant()));
    }
    return future;
  }

  /** Reads a body to its end, so that closing it leaves nothing for OkHttp to drain. */
  private static void drain(BufferedSource body) throws IOException {
    Buffer discard = new Buffer();
    while (body.read(discard, 8192) != -1) {
      discard.clear();
    }
  }

  private HealthReport failure(IOException e, boolean timedOut, long ms) {
    if (timedOut
        || e instanceof SocketTimeoutException
        || (e instanceof InterruptedIOException && "timeout".equals(e.getMessage()))) {
      return new HealthReport(
          HealthReport.State.TIMEOUT,
          ms,
          0,
          "no answer within " + Durations.seconds(config.healthTimeout()),
          clock.instant());
    }
    String message;
    if (e instanceof ConnectException) {
      message = "connection refused";
    } else if (e instanceof UnknownHostException) {
      message = "unknown host " + probeRequest.url().host();
    } else {
      message = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }
    return new HealthReport(HealthReport.State.UNREACHABLE, ms, 0, message, clock.instant());
  }

  private void done(CompletableFuture<HealthReport> future, HealthReport report) {
    HealthReport previous;
    synchronized (this) {
      previous = last;
      last = report;
      lastFinishedNanos = System.nanoTime();
      inFlight = null;
    }
    if (previous == null || previous.upstream() != report.upstream()) {
      String from = previous == null ? "unknown" : previous.upstream().wireName();
      if (report.healthy()) {
        log.info("upstream {} {} -> reachable ({} ms)", upstreamName, from, report.responseTimeMillis());
      } else {
        log.warn("upstream {} {} -> {}: {}", upstreamName, from, report.upstream().wireName(), report.message());
      }
    }
    future.complete(report);
  }

  /** The URL the probe asks. */
  HttpUrl probeUrl() {
    return probeRequest.url();
  }

  public synchronized Optional<HealthReport> lastReport() {
    return Optional.ofNullable(last);
  }

  @Override
  public void close() {
    closed = true;
    ScheduledFuture<?> h = heartbeat;
    if (h != null) {
      h.cancel(false);
    }
  }

  private static long elapsedMillis(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }
}
