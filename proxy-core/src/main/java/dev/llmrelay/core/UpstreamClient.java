package dev.llmrelay.core;

import dev.llmrelay.core.internal.RealUpstreamClient;
import java.util.Objects;
import java.util.concurrent.ExecutorService;

/**
 * The resilient client in front of one OpenAI-compatible upstream: one shared connection pool,
 * the concurrency gate, retries with backoff, per-attempt and idle timeouts, and the streaming
 * commit point (DESIGN.md §2).
 *
 * <p>Create one per process and share it; it is thread-safe. {@link #close()} stops the heartbeat,
 * cancels running exchanges and releases the connection pool.
 */
public interface UpstreamClient extends AutoCloseable {

  /** A client with the given configuration and default executor (virtual threads on Java 21+). */
  static UpstreamClient create(RelayConfig config) {
    return builder(config).build();
  }

  /** A builder for a client with injected collaborators. */
  static Builder builder(RelayConfig config) {
    return new Builder(config);
  }

  /**
   * Starts an exchange: waits (without holding a thread) for a permit, then runs the attempts on
   * the client's executor and delivers the response to {@code sink}. Returns at once.
   *
   * @param clientRequest the validated client request; its body was read completely
   * @param sink where the response goes
   * @return a handle to cancel the exchange or observe its end
   */
  UpstreamExchange start(ClientRequest clientRequest, ResponseSink sink);

  /**
   * Like {@link #start}, but saves the hand-off to the client's executor where the client was
   * built to ({@link Builder#runOnCallingVirtualThreads}): when the calling thread is a virtual
   * thread (Java 21+) and a permit is free at once, the exchange runs on the calling thread and
   * this method returns after it ended. In every other case it behaves exactly like {@code start}:
   * it returns at once, a request that finds no permit waits without a thread, and the attempts run
   * on the client's executor. A platform thread never runs an exchange here: blocking a pooled
   * container thread on the upstream is what the asynchronous design avoids.
   *
   * <p>{@code onStarted} receives the handle before any permit is asked for or any upstream work
   * is done, on the calling thread, so that the caller can wire cancellation (a client that goes
   * away) even while the exchange runs on its own thread; on a closed client, right after the sink
   * got its {@code relay_closed} failure. (This default implementation, for other clients, calls
   * {@code start} and then {@code onStarted}.)
   *
   * @param clientRequest the validated client request; its body was read completely
   * @param sink where the response goes
   * @param onStarted told the handle first
   * @return the same handle
   */
  default UpstreamExchange runOrStart(
      ClientRequest clientRequest, ResponseSink sink, java.util.function.Consumer<UpstreamExchange> onStarted) {
    UpstreamExchange exchange = start(clientRequest, sink);
    onStarted.accept(exchange);
    return exchange;
  }

  /** The upstream health probe sharing this client's connection pool. */
  UpstreamHealthProbe healthProbe();

  /**
   * Accounts for a client request the caller refused before starting an exchange (a 413, 400,
   * 401, 404 or 405 of the servlet adapter), so that stats, metrics and the request log see every
   * request. Takes no permit and calls no upstream.
   *
   * @param requestId the request id
   * @param method the client's method
   * @param path the client's path (shortened and sanitised by the caller)
   * @param error what the client was answered
   */
  void recordRejection(String requestId, String method, String path, RelayException error);

  /**
   * The routes (upstream and model) the relay knows, with breaker state and learned timeout.
   * The default, for other implementations, knows none.
   */
  default java.util.List<RouteStatus> routes() {
    return java.util.List.of();
  }

  /** A consistent-enough snapshot of the counters and gauges. */
  RelayStats stats();

  /** This client's configuration. */
  RelayConfig config();

  /** Stops the heartbeat, cancels running exchanges and closes idle upstream connections. */
  @Override
  void close();

  /**
   * Builds an {@link UpstreamClient}. Not thread-safe.
   */
  final class Builder {
    private final RelayConfig config;
    private ExecutorService executor;
    private java.time.Clock clock = java.time.Clock.systemUTC();
    private final java.util.List<ExchangeListener> listeners = new java.util.ArrayList<>();
    private boolean runOnCallingVirtualThreads;

    private Builder(RelayConfig config) {
      this.config = Objects.requireNonNull(config, "config");
    }

    /**
     * The executor exchanges run on (one task per exchange, holding a permit). Default: a virtual
     * thread per task on Java 21+, a cached pool of daemon platform threads on Java 17. An
     * injected executor is not shut down by {@link UpstreamClient#close()}.
     */
    public Builder executor(ExecutorService executor) {
      this.executor = Objects.requireNonNull(executor, "executor");
      return this;
    }

    /**
     * Adds a listener told about every finished request (metrics, logs); for Micrometer use
     * {@code new dev.llmrelay.core.metrics.MicrometerMetrics(registry)}.
     */
    public Builder listener(ExchangeListener listener) {
      listeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    /**
     * The clock circuit breakers time their open state with (and HTTP-date {@code Retry-After}
     * is read against); default the system clock. Tests inject a controllable one.
     */
    public Builder clock(java.time.Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Lets {@link UpstreamClient#runOrStart} run an exchange on the calling thread when that is a
     * virtual thread and a permit is free at once (default: off, so {@code runOrStart} is {@code
     * start}). It saves a thread hand-off per request; the price is that, while the exchange runs,
     * the caller's thread is busy with it: a servlet container cannot deliver an async error
     * (an HTTP/2 stream reset before the response started) to the request until the exchange
     * ends, and a container that caps its virtual threads counts the exchange against that cap.
     * Turn it on where neither applies, as the launcher does (HTTP/1.1 connector, uncapped
     * virtual threads; HTTP/1.1 reports no disconnect before the response starts anyway).
     */
    public Builder runOnCallingVirtualThreads(boolean enabled) {
      this.runOnCallingVirtualThreads = enabled;
      return this;
    }

    /** Creates and starts the client (including the heartbeat, when configured). */
    public UpstreamClient build() {
      RealUpstreamClient client = new RealUpstreamClient(config, executor, java.util.List.copyOf(listeners), clock);
      if (runOnCallingVirtualThreads) {
        client.runExchangesOn(dev.llmrelay.core.internal.Threads::isVirtual);
      }
      return client;
    }
  }
}
