package dev.llmrelay.core.internal;

import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.ExchangeListener;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.RelayStats;
import dev.llmrelay.core.ResponseSink;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.UpstreamExchange;
import dev.llmrelay.core.UpstreamHealthProbe;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import okhttp3.ConnectionPool;
import okhttp3.Dispatcher;
import okhttp3.OkHttpClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link UpstreamClient}: owns the one {@link OkHttpClient} (and so the one connection pool),
 * the concurrency gate, the scheduler for timeouts and the exchange executor.
 *
 * <p>OkHttp is configured for a proxy that must not duplicate billed requests: {@code
 * retryOnConnectionFailure(false)} (OkHttp would silently replay a POST the upstream already
 * read), no redirects, and no call timeout (it would cut long streams). Time to headers is bounded
 * per attempt by a timer on this client's scheduler that cancels the call (it also bounds
 * connecting and writing the request); body silence by {@link IdleWatchdog}. Both cancel the
 * call, which ends a blocked read or write at once (HTTP/1.1: the socket is closed; HTTP/2: the
 * stream is reset and its waiting reader or writer woken). OkHttp's own read and write timeouts
 * are off, because they cost system calls and lock traffic on every request and would only
 * duplicate these.
 *
 * <p>Every thread the client uses is its own and ends in {@link #close()}, which waits for them
 * (at most about 2 s beyond the exchanges' own 2 s): the scheduler, the exchange executor, the
 * OkHttp dispatcher's pool (the probes' async calls) and OkHttp's task runner (pool cleanup,
 * HTTP/2), which {@link OkHttpTaskRunner} gives this client instead of OkHttp's process-wide one.
 * So an application that closes the client when it stops (a webapp being undeployed) leaves no
 * thread behind. See {@link Threads} for the one thread a library may still start from ours.
 *
 * <p>Thread-safe.
 */
public final class RealUpstreamClient implements UpstreamClient {
  private static final Logger log = LoggerFactory.getLogger(RealUpstreamClient.class);

  private final RelayConfig config;
  private final OkHttpClient okHttp;
  private final ScheduledThreadPoolExecutor scheduler;
  /** The platform threads of this client, waited for in {@link #close()}. */
  private final Threads.Owner threads = new Threads.Owner();
  /** OkHttp's background work (pool cleanup, HTTP/2) on this client's threads. */
  private final OkHttpTaskRunner okHttpTasks;
  /** The OkHttp dispatcher's threads (the health probes' async calls). */
  private final ExecutorService okHttpCalls;
  private final ExecutorService executor;
  private final boolean ownsExecutor;
  private final java.util.concurrent.Executor exchangeExecutor;
  private final ConcurrencyGate gate;
  private final StatsRecorder stats = new StatsRecorder();
  private final DebugMode debugMode;
  private final Backoff backoff;
  private final Clock clock;
  private final List<Upstream> upstreams;
  private final Router router;
  /** The limits shared with other instances, or null. */
  private final dev.llmrelay.core.internal.shared.SharedLimits shared;
  private final RetryBudget retryBudget;
  private final Set<RealExchange> active = ConcurrentHashMap.newKeySet();
  private final CompositeHealthProbe healthProbe;
  private final RequestLog requestLog;
  private final List<ExchangeListener> listeners;
  private volatile boolean closed;

  /**
   * @param config configuration
   * @param executor exchange executor, or null for the default (virtual threads on 21+)
   * @param listeners told about every finished request
   * @param clock times breakers and reads HTTP-date Retry-After
   */
  public RealUpstreamClient(
      RelayConfig config, ExecutorService executor, List<ExchangeListener> listeners, Clock clock) {
    this(config, executor, listeners, clock, null, null);
  }

  /**
   * @param config configuration
   * @param executor exchange executor, or null for the default (virtual threads on 21+)
   * @param listeners told about every finished request
   * @param clock times breakers and reads HTTP-date Retry-After
   * @param sharedConfig limits shared with other instances, or null for none
   * @param sharedState the engine for them, or null to create it from {@code sharedConfig}; closed
   *     by {@link #close()} either way
   */
  public RealUpstreamClient(
      RelayConfig config,
      ExecutorService executor,
      List<ExchangeListener> listeners,
      Clock clock,
      dev.llmrelay.core.shared.SharedStateConfig sharedConfig,
      dev.llmrelay.core.shared.SharedState sharedState) {
    this.config = Objects.requireNonNull(config, "config");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.scheduler = Threads.newScheduler(threads.factory("llmrelay-scheduler-"));
    this.ownsExecutor = executor == null;
    this.executor =
        executor != null ? executor : Threads.newPerTaskExecutor("llmrelay-exchange-", threads.factory("llmrelay-exchange-"));
    this.exchangeExecutor = task -> {
      try {
        this.executor.execute(task);
      } catch (java.util.concurrent.RejectedExecutionException shutDown) {
        task.run();
      }
    };
    // OkHttp's default dispatcher pool has non-daemon threads that idle 60 s: ours end on close.
    this.okHttpCalls =
        new java.util.concurrent.ThreadPoolExecutor(
            0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS, new java.util.concurrent.SynchronousQueue<>(),
            threads.factory("llmrelay-okhttp-calls-"));
    Dispatcher dispatcher = new Dispatcher(okHttpCalls);
    // Chat calls run synchronously (execute()), which the dispatcher does not limit; the probe's
    // async calls must never queue behind an invisible per-host limit of 5.
    dispatcher.setMaxRequests(Math.max(64, config.maxConcurrentRequests() + 16));
    dispatcher.setMaxRequestsPerHost(Math.max(64, config.maxConcurrentRequests() + 16));
    this.okHttpTasks = OkHttpTaskRunner.create(threads.factory("llmrelay-okhttp-tasks-"));
    this.okHttp =
        okHttpTasks.installOn(new OkHttpClient.Builder())
            .connectionPool(okHttpTasks.connectionPool(config.poolMaxIdleConnections(), config.poolKeepAlive()))
            .dispatcher(dispatcher)
            .retryOnConnectionFailure(false)
            .followRedirects(false)
            .followSslRedirects(false)
            .connectTimeout(config.connectTimeout())
            // No OkHttp read or write timeout: every wait already has a relay timer that cancels
            // the call (see the class comment), and OkHttp's would cost per request: a socket
            // read timeout turns each blocking read into read + poll + read, and a write timeout
            // enters Okio's watchdog queue (a lock and often a thread wake-up) around each write.
            .readTimeout(Duration.ZERO)
            .writeTimeout(Duration.ZERO)
            .callTimeout(Duration.ZERO)
            .build();
    List<Upstream> ups = new java.util.ArrayList<>();
    for (dev.llmrelay.core.UpstreamConfig u : config.upstreams()) {
      ups.add(new Upstream(u));
    }
    this.upstreams = List.copyOf(ups);
    if (sharedConfig != null && sharedConfig.enabled()) {
      dev.llmrelay.core.shared.SharedState state =
          sharedState != null ? sharedState : dev.llmrelay.core.shared.SharedStates.create(sharedConfig);
      this.shared = new dev.llmrelay.core.internal.shared.SharedLimits(state, sharedConfig, scheduler, config.maxWait());
    } else {
      if (sharedState != null) {
        sharedState.close();
      }
      this.shared = null;
    }
    this.router = new Router(upstreams, config, clock, shared != null ? shared : RouteHints.NONE);
    this.gate =
        new ConcurrencyGate(
            config.maxConcurrentRequests(),
            config.maxQueuedRequests(),
            config.maxWait(),
            config.waitLogInterval(),
            scheduler);
    this.debugMode = new DebugMode(config.debugMode(), config.debugModeFile().orElse(null));
    this.backoff = new Backoff(config.backoffInitial(), config.backoffMax());
    for (Upstream u : upstreams) {
      u.probe = new RealHealthProbe(config, u.config, okHttp, scheduler, clock);
    }
    this.healthProbe = new CompositeHealthProbe(upstreams, this::routesOf);
    this.retryBudget = new RetryBudget(gate::inUse, config.retryBudgetPercent(), config.retryBudgetMinRetries());
    this.requestLog =
        new RequestLog(config.logDir().map(dir -> JsonLinesWriter.daily(dir, config.logRetentionDays())).orElse(null));
    this.listeners = List.copyOf(listeners);
    for (ExchangeListener listener : this.listeners) {
      listener.clientStarted(this);
    }
    for (Upstream u : upstreams) {
      u.probe.startHeartbeat();
    }
  }

  @Override
  public UpstreamExchange newExchange(ClientRequest clientRequest, ResponseSink sink) {
    Objects.requireNonNull(clientRequest, "clientRequest");
    Objects.requireNonNull(sink, "sink");
    return new RealExchange(this, clientRequest, sink);
  }

  /**
   * An exchange on a permit the caller took with {@link ConcurrencyGate#tryAcquire()} (a job); the
   * exchange releases it.
   */
  public UpstreamExchange newExchange(ClientRequest clientRequest, ResponseSink sink, ConcurrencyGate.Permit permit) {
    Objects.requireNonNull(clientRequest, "clientRequest");
    Objects.requireNonNull(sink, "sink");
    Objects.requireNonNull(permit, "permit");
    return new RealExchange(this, clientRequest, sink, permit);
  }

  /**
   * Registers a starting exchange, so that {@link #close()} can abort it; false when the client is
   * closed (the exchange then answers 503 relay_closed).
   */
  boolean register(RealExchange exchange) {
    active.add(exchange);
    if (closed) {
      return false; // close() may have run concurrently and not seen this exchange
    }
    return true;
  }

  @Override
  public UpstreamHealthProbe healthProbe() {
    return healthProbe;
  }

  @Override
  public void recordRejection(String requestId, String method, String path, RelayException error) {
    exchangeFinished(ExchangeResult.builder(requestId)
        .request(method, path)
        .outcome(Outcome.REJECTED, error.status(), error.code())
        .bytesOut(error.toJson().length)
        .build());
  }

  @Override
  public RelayStats stats() {
    ConnectionPool pool = okHttp.connectionPool();
    return stats.snapshot(gate, requestLog.dropped(), retryBudget.denied(), pool.connectionCount(), pool.idleConnectionCount());
  }

  @Override
  public List<dev.llmrelay.core.RouteStatus> routes() {
    return router.knownRoutes().stream().map(this::status).toList();
  }

  private List<dev.llmrelay.core.RouteStatus> routesOf(String upstream) {
    return router.knownRoutes().stream().filter(r -> r.upstream.name().equals(upstream)).map(this::status).toList();
  }

  private dev.llmrelay.core.RouteStatus status(Route r) {
    return new dev.llmrelay.core.RouteStatus(
        r.upstream.name(),
        r.model,
        r.breaker.state(),
        r.breaker.remainingOpen(),
        config.adaptiveTimeouts() ? r.adaptive.limit(config.attemptTimeout()) : config.attemptTimeout(),
        r.adaptive.samples());
  }

  @Override
  public RelayConfig config() {
    return config;
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Upstream u : upstreams) {
      u.probe.close();
    }
    gate.close();
    for (RealExchange e : active) {
      e.abort(); // 503 relay_closed before the commit point, an in-band error after it
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
    if (ownsExecutor) {
      executor.shutdown();
      try {
        if (!executor.awaitTermination(2, TimeUnit.SECONDS)) {
          executor.shutdownNow(); // interrupts what is left: an aborted exchange ends at once
          executor.awaitTermination(1, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        executor.shutdownNow();
      }
    }
    // Exchanges running on their callers' threads (execute) or an injected executor: aborted
    // above, give them the same two seconds to log and count their end before the log closes.
    while (!active.isEmpty() && System.nanoTime() < deadline && !Thread.currentThread().isInterrupted()) {
      java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
    }
    if (shared != null) {
      shared.close();
    }
    scheduler.shutdownNow();
    okHttp.dispatcher().cancelAll();
    okHttpCalls.shutdownNow();
    okHttp.connectionPool().evictAll();
    okHttpTasks.shutdown();
    requestLog.close();
    // Every thread of this client ends before close returns, so that whoever closes it (a webapp
    // being undeployed) can rely on none being left.
    // (Virtual exchange threads are not among them: the executor's termination above covers them.)
    List<Thread> alive = threads.awaitEnd(Duration.ofSeconds(2));
    if (!alive.isEmpty()) {
      log.warn("upstream client closed; threads still running after 2 s: {}", alive.stream().map(Thread::getName).toList());
    } else {
      log.debug("upstream client closed");
    }
  }

  // ---- for the exchange and for tests ------------------------------------------------------

  /** The shared OkHttp client. */
  public OkHttpClient okHttp() {
    return okHttp;
  }

  /** The concurrency gate. */
  public ConcurrencyGate gate() {
    return gate;
  }

  /** Upstream connections currently carrying a call (total minus idle). */
  public int leasedConnections() {
    return okHttp.connectionPool().connectionCount() - okHttp.connectionPool().idleConnectionCount();
  }

  /** Exchanges not yet finished. */
  public int activeExchanges() {
    return active.size();
  }

  ScheduledThreadPoolExecutor scheduler() {
    return scheduler;
  }

  /**
   * The exchange executor, falling back to the calling thread once it is shut down so that a
   * continuation (and the permit it may hold) is never dropped.
   */
  java.util.concurrent.Executor exchangeExecutor() {
    return exchangeExecutor;
  }

  boolean isClosed() {
    return closed;
  }

  StatsRecorder recorder() {
    return stats;
  }

  DebugMode debugMode() {
    return debugMode;
  }

  Backoff backoff() {
    return backoff;
  }

  Clock clock() {
    return clock;
  }

  /** The limits shared with other instances, or null. */
  public dev.llmrelay.core.internal.shared.SharedLimits shared() {
    return shared;
  }

  @Override
  public java.util.Optional<dev.llmrelay.core.shared.SharedStats> sharedStats() {
    return shared == null ? java.util.Optional.empty() : java.util.Optional.of(shared.stats());
  }

  Router router() {
    return router;
  }

  RetryBudget retryBudget() {
    return retryBudget;
  }

  /** The most retries that were ever in flight at once (a test hook for the retry budget). */
  public int maxConcurrentRetries() {
    return retryBudget.maxSeen();
  }

  void exchangeEnded(RealExchange exchange) {
    active.remove(exchange);
  }

  /** Counts, logs and tells the listeners about one finished request. */
  void exchangeFinished(ExchangeResult result) {
    stats.requestFinished(result.outcome());
    notify(requestLog, result);
    for (ExchangeListener listener : listeners) {
      notify(listener, result);
    }
  }

  private static void notify(ExchangeListener listener, ExchangeResult result) {
    try {
      listener.exchangeFinished(result);
    } catch (RuntimeException e) {
      log.warn("exchange listener {} failed", listener.getClass().getName(), e);
    }
  }
}
