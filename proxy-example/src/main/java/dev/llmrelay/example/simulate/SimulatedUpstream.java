package dev.llmrelay.example.simulate;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Objects;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An in-process, OpenAI-compatible HTTP server on 127.0.0.1 that answers like a slow and
 * unreliable LLM API, for the launcher's {@code --simulate} mode, benchmarks and tests.
 *
 * <pre>{@code
 * SimulatorConfig config = SimulatorConfig.fromEnvironment(System.getenv());
 * try (SimulatedUpstream upstream = SimulatedUpstream.start(config)) {
 *   String base = upstream.baseUrl(); // http://127.0.0.1:PORT/v1
 * }
 * }</pre>
 *
 * <h2>Endpoints</h2>
 * <ul>
 *   <li>{@code POST /v1/chat/completions}: a {@code chat.completion}, or with
 *       {@code "stream": true} a {@code text/event-stream} of
 *       {@link SimulatorConfig#streamChunks()} {@code chat.completion.chunk} events, preceded by
 *       the comment {@code : OPENROUTER PROCESSING} and followed by {@code data: [DONE]};
 *   <li>{@code POST /v1/completions}: the same as {@code text_completion};
 *   <li>{@code POST /v1/embeddings}: one small fixed vector per input;
 *   <li>{@code GET /v1/models}: three models; {@code GET /v1/key}: OpenRouter's key info.
 * </ul>
 * The {@code model} of a request is echoed ({@code simulated-model} when absent). A body that is
 * not a JSON object gets 400 with an OpenAI-shaped {@code invalid_request_error}; an unknown path
 * 404, a wrong method 405.
 *
 * <h2>Faults</h2>
 * The three POST endpoints wait {@link SimulatorConfig#latency()} before answering and fail at the
 * configured rates (see {@link SimulatorConfig}): held without headers, 5xx (JSON, or a CDN's
 * HTML 502), 429 with {@code Retry-After: 1}, or a stream cut without {@code [DONE]}. A request can
 * choose its fault with {@value #FAULT_HEADER} (see {@link SimulatedFault}) and its latency with
 * {@value #LATENCY_HEADER}; the GET endpoints only fail or wait when asked that way. Every answer
 * names its kind in {@value #ANSWER_HEADER}; {@link #stats()} counts them.
 *
 * <h2>Threading</h2>
 * Built on a Jetty 12 core handler, not a servlet: writes are asynchronous and every wait (latency,
 * the gap between stream events, the hold of a "timeout") is a task on Jetty's scheduler, so an
 * open stream or a held request occupies no thread. Several hundred concurrent slow streams run on
 * a pool of at most {@value #MAX_THREADS} threads. A held request notices that its client went
 * away through a read-interest callback on its connection: no busy-waiting, no polling.
 *
 * <p>Thread-safe. {@link #start()} once; {@link #close()} closes every open connection, stops the
 * server within about a second and is idempotent. All threads it creates are daemon threads named
 * {@code sim-upstream-*}.
 */
public final class SimulatedUpstream implements AutoCloseable {
  /** Request header choosing the fault of this request; values in {@link SimulatedFault}. */
  public static final String FAULT_HEADER = "X-Sim-Fault";
  /** Request header setting this request's time before headers, in milliseconds. */
  public static final String LATENCY_HEADER = "X-Sim-Latency-Ms";
  /** Response header naming the answer's {@link SimulatedAnswer#headerValue() kind}. */
  public static final String ANSWER_HEADER = "X-Sim-Answer";
  /** The address the simulator listens on: loopback only. */
  public static final String HOST = "127.0.0.1";
  /** Largest number of server threads; streams and held requests do not occupy one. */
  public static final int MAX_THREADS = 64;
  /**
   * How long a connection may stay idle between requests before the simulator closes it: longer
   * than the relay's default pool keep-alive (300 s), so the relay closes idle connections first.
   * Idle time inside a request (latency, holds, gaps) never closes a connection.
   */
  public static final Duration CONNECTION_IDLE_TIMEOUT = Duration.ofSeconds(330);

  private static final Logger log = LoggerFactory.getLogger(SimulatedUpstream.class);
  private static final int MIN_THREADS = 4;
  private static final int SCHEDULER_THREADS = 2;
  private static final int ACCEPT_QUEUE_SIZE = 1024;
  private static final long STOP_TIMEOUT_MILLIS = 1000;

  private final SimulatorConfig config;
  private Server server; // guarded by this
  private SimulatorHandler handler; // guarded by this
  private volatile int port = -1;
  private boolean closed; // guarded by this

  /** A simulator that is not listening yet; call {@link #start()}. */
  public SimulatedUpstream(SimulatorConfig config) {
    this.config = Objects.requireNonNull(config, "config");
  }

  /** Creates a simulator with {@code config} and starts it. */
  public static SimulatedUpstream start(SimulatorConfig config) {
    return new SimulatedUpstream(config).start();
  }

  /**
   * Binds {@link #HOST}:{@link SimulatorConfig#port()} and starts answering; logs one line with
   * the URL and the fault rates.
   *
   * @return this
   * @throws UncheckedIOException when the port cannot be bound
   * @throws IllegalStateException when already started or closed, or when Jetty fails otherwise
   */
  public synchronized SimulatedUpstream start() {
    if (closed) {
      throw new IllegalStateException("simulated upstream is closed");
    }
    if (server != null) {
      throw new IllegalStateException("simulated upstream is already started");
    }
    QueuedThreadPool threads = new QueuedThreadPool(MAX_THREADS, MIN_THREADS);
    threads.setName("sim-upstream");
    threads.setDaemon(true);
    threads.setStopTimeout(STOP_TIMEOUT_MILLIS);
    ScheduledExecutorScheduler scheduler =
        new ScheduledExecutorScheduler("sim-upstream-scheduler", true, SCHEDULER_THREADS);
    Server newServer = new Server(threads, scheduler, null);
    // No graceful phase: it would wait for the clients' idle keep-alive connections to close.
    // close() ends the open exchanges itself before stopping.
    newServer.setStopTimeout(0);

    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    http.setSendXPoweredBy(false);
    ServerConnector connector = new ServerConnector(newServer, new HttpConnectionFactory(http));
    connector.setHost(HOST);
    connector.setPort(config.port());
    connector.setIdleTimeout(CONNECTION_IDLE_TIMEOUT.toMillis());
    connector.setAcceptQueueSize(ACCEPT_QUEUE_SIZE);
    newServer.addConnector(connector);

    SimulatorHandler newHandler = new SimulatorHandler(config, scheduler);
    newServer.setHandler(newHandler);
    try {
      newServer.start();
    } catch (Exception e) {
      stopQuietly(newServer);
      if (e instanceof IOException io) {
        throw new UncheckedIOException(
            "Cannot start the simulated upstream on " + HOST + ":" + config.port(), io);
      }
      throw new IllegalStateException(
          "Cannot start the simulated upstream on " + HOST + ":" + config.port(), e);
    }
    server = newServer;
    handler = newHandler;
    port = connector.getLocalPort();
    log.info(
        "Simulated upstream at {}: latency {} ms, {} stream events {} ms apart; fault rates"
            + " timeout {}, error {}, rate-limit {}, stream-cut {}; seed {}",
        baseUrl(), config.latency().toMillis(), config.streamChunks(),
        config.chunkDelay().toMillis(), config.timeoutRate(), config.errorRate(),
        config.rateLimitRate(), config.streamCutRate(), config.seed());
    return this;
  }

  /** The base URL clients use, {@code http://127.0.0.1:PORT/v1}. */
  public String baseUrl() {
    return "http://" + HOST + ":" + port() + "/v1";
  }

  /**
   * The port actually bound.
   *
   * @throws IllegalStateException when not started
   */
  public int port() {
    int bound = port;
    if (bound < 0) {
      throw new IllegalStateException("simulated upstream is not started");
    }
    return bound;
  }

  /** The configuration, with the seed actually used. */
  public SimulatorConfig config() {
    return config;
  }

  /** What the simulator has done so far; all zeros before {@link #start()}. */
  public synchronized SimulatorStats stats() {
    if (handler == null) {
      return new SimulatorStats(0, java.util.Map.of(), 0, 0);
    }
    return handler.stats();
  }

  /**
   * Closes every open connection (held requests and streams end abruptly, as if the server
   * crashed), then stops the server and its threads. Returns within about a second; idempotent.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (server == null) {
      return;
    }
    handler.closeAll();
    stopQuietly(server);
    SimulatorStats stats = handler.stats();
    StringBuilder answers = new StringBuilder();
    stats.answers().forEach((answer, count) -> {
      if (count > 0) {
        answers.append(answers.length() == 0 ? "" : ", ").append(answer.headerValue())
            .append(' ').append(count);
      }
    });
    log.info("Simulated upstream at {} stopped after {} requests ({}), {} client aborts",
        baseUrl(), stats.totalRequests(), answers, stats.clientAborts());
  }

  private static void stopQuietly(Server server) {
    try {
      server.stop();
    } catch (Exception e) {
      log.warn("Simulated upstream did not stop cleanly", e);
    }
  }
}
