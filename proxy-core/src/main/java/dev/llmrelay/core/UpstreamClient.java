package dev.llmrelay.core;

import dev.llmrelay.core.internal.RealUpstreamClient;
import java.util.Objects;
import java.util.concurrent.ExecutorService;

/**
 * The resilient client in front of one OpenAI-compatible upstream: one shared connection pool,
 * the concurrency gate, retries with backoff, per-attempt and idle timeouts, and the streaming
 * commit point.
 *
 * <p>Create one per process and share it; it is thread-safe. {@link #close()} stops the heartbeat,
 * cancels running exchanges and releases the connection pool.
 */
public interface UpstreamClient extends AutoCloseable {

  /**
   * A client with the given configuration and default executor (virtual threads on Java 21+).
   *
   * @param config the configuration
   * @return a started client; close it when done
   */
  static UpstreamClient create(RelayConfig config) {
    return builder(config).build();
  }

  /**
   * A builder for a client with injected collaborators.
   *
   * @param config the configuration
   * @return a new builder
   */
  static Builder builder(RelayConfig config) {
    return new Builder(config);
  }

  /**
   * A new exchange for {@code clientRequest}, delivering to {@code sink}; nothing happens until
   * it is started ({@link UpstreamExchange#start()}, or {@link UpstreamExchange#execute()} on the
   * calling thread). On a closed client the exchange, once started, answers the sink 503 {@code
   * relay_closed} at once.
   *
   * @param clientRequest the validated client request; its body was read completely
   * @param sink where the response goes
   * @return the exchange, not started
   */
  UpstreamExchange newExchange(ClientRequest clientRequest, ResponseSink sink);

  /**
   * Shorthand for {@code newExchange(clientRequest, sink).start()}: waits (without holding a
   * thread) for a permit, then runs the attempts on the client's executor. Returns at once.
   *
   * @param clientRequest the validated client request; its body was read completely
   * @param sink where the response goes
   * @return the started exchange, to cancel it or observe its end
   */
  default UpstreamExchange start(ClientRequest clientRequest, ResponseSink sink) {
    return newExchange(clientRequest, sink).start();
  }

  /** {@return the upstream health probe sharing this client's connection pool} */
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
   *
   * @return every known route
   */
  default java.util.List<RouteStatus> routes() {
    return java.util.List.of();
  }

  /**
   * The shared limits' counters (global permits held here, engine reachable, errors, lapsed
   * leases), when this client shares limits with other instances.
   *
   * @return the counters, or empty when nothing is shared
   */
  default java.util.Optional<dev.llmrelay.core.shared.SharedStats> sharedStats() {
    return java.util.Optional.empty();
  }

  /** {@return A consistent-enough snapshot of the counters and gauges} */
  RelayStats stats();

  /** {@return this client's configuration} */
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
    private dev.llmrelay.core.shared.SharedStateConfig sharedConfig;
    private dev.llmrelay.core.shared.SharedState sharedState;

    private Builder(RelayConfig config) {
      this.config = Objects.requireNonNull(config, "config");
    }

    /**
     * The executor exchanges run on (one task per exchange, holding a permit). Default: a virtual
     * thread per task on Java 21+, a cached pool of daemon platform threads on Java 17. An
     * injected executor is not shut down by {@link UpstreamClient#close()}.
     *
     * @param executor the executor
     * @return this builder
     */
    public Builder executor(ExecutorService executor) {
      this.executor = Objects.requireNonNull(executor, "executor");
      return this;
    }

    /**
     * Adds a listener told about every finished request (metrics, logs); for Micrometer use
     * {@code new dev.llmrelay.core.metrics.MicrometerMetrics(registry)}.
     *
     * @param listener the listener
     * @return this builder
     */
    public Builder listener(ExchangeListener listener) {
      listeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    /**
     * The clock circuit breakers time their open state with (and HTTP-date {@code Retry-After}
     * is read against); default the system clock. Tests inject a controllable one.
     *
     * @param clock the clock
     * @return this builder
     */
    public Builder clock(java.time.Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Shares a global concurrency cap and breaker openings with other instances through the
     * engine {@code shared} names ({@code SHARED_STATE_URL}); each request then holds a local
     * permit and a global lease. Nothing is shared when its URL is unset.
     *
     * @param shared the settings
     * @return this builder
     */
    public Builder sharedState(dev.llmrelay.core.shared.SharedStateConfig shared) {
      this.sharedConfig = Objects.requireNonNull(shared, "shared");
      return this;
    }

    /**
     * Like {@link #sharedState(dev.llmrelay.core.shared.SharedStateConfig)} on an engine of the
     * caller's (its own implementation, say); the client closes it.
     *
     * @param shared the settings
     * @param state the engine
     * @return this builder
     */
    public Builder sharedState(dev.llmrelay.core.shared.SharedStateConfig shared, dev.llmrelay.core.shared.SharedState state) {
      this.sharedConfig = Objects.requireNonNull(shared, "shared");
      this.sharedState = Objects.requireNonNull(state, "state");
      return this;
    }

    /**
     * Creates and starts the client (including the heartbeat, when configured).
     *
     * @return the started client; close it when done
     */
    public UpstreamClient build() {
      return new RealUpstreamClient(config, executor, java.util.List.copyOf(listeners), clock, sharedConfig, sharedState);
    }
  }
}
