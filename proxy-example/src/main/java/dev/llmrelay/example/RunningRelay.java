package dev.llmrelay.example;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.jobs.RelayJobs;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A started proxy: its address, its client, and a graceful {@link #close()}. Thread-safe; closing
 * twice is harmless.
 */
public final class RunningRelay implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RunningRelay.class);

  /**
   * How long, after the client aborted the requests that outlived the shutdown timeout, their
   * answers (a 503 or the in-band error event) get to reach the clients before the connections
   * close. Writing a few hundred bytes to an open socket takes far less; the core itself waits up to
   * 2 s for its aborted exchanges to end.
   */
  static final Duration ABORTED_ANSWERS_GRACE = Duration.ofSeconds(2);

  private final Server server;
  private final ServerConnector connector;
  private final UpstreamClient client;
  private final RelayJobs jobs;
  private final AutoCloseable simulator;
  private final RelayConfig config;
  private final LauncherSettings settings;
  private final Duration shutdownTimeout;
  private final AtomicBoolean closed = new AtomicBoolean();

  RunningRelay(
      Server server,
      ServerConnector connector,
      UpstreamClient client,
      RelayJobs jobs,
      AutoCloseable simulator,
      RelayConfig config,
      LauncherSettings settings) {
    this.server = server;
    this.settings = settings;
    this.shutdownTimeout = settings.shutdownTimeout();
    this.connector = connector;
    this.client = client;
    this.jobs = jobs;
    this.simulator = simulator;
    this.config = config;
  }

  /** The port the proxy listens on (resolved when {@code RELAY_PORT=0}). */
  public int port() {
    return connector.getLocalPort();
  }

  /** The base URL, e.g. {@code http://127.0.0.1:5000}. */
  public String url() {
    String host = settings.host().contains(":") ? "[" + settings.host() + "]" : settings.host();
    return "http://" + host + ":" + port();
  }

  /** The upstream client (for stats). */
  public UpstreamClient client() {
    return client;
  }

  /** The job service, or empty when jobs are off. */
  public java.util.Optional<RelayJobs> jobs() {
    return java.util.Optional.ofNullable(jobs);
  }

  /** The effective configuration. */
  public RelayConfig config() {
    return config;
  }

  /** Blocks until the server has stopped. */
  public void join() throws InterruptedException {
    server.join();
  }

  /**
   * Shuts down in the order that lets every client hear how its request ended:
   *
   * <ol>
   *   <li>stop accepting connections, and answer a new request on a kept-alive connection with 503
   *       {@code relay_closed} (Jetty's {@link GracefulHandler});
   *   <li>let in-flight requests finish for at most the shutdown timeout ({@code
   *       SHUTDOWN_TIMEOUT_SECONDS});
   *   <li>meanwhile the job service claims no new job and lets the jobs running here finish
   *       within the same timeout; then it is closed, which gives any job still running back to
   *       the queue (it runs again after a restart, or on another instance, without counting an
   *       attempt);
   *   <li>close the upstream client, which aborts what is left and answers it on the connection
   *       that is still open: 503 {@code relay_closed} before a response started, the in-band error
   *       event ({@code upstream_stream_interrupted}, no {@code [DONE]}) in a stream under way; each
   *       permit is released once;
   *   <li>once those answers are written (at most {@link #ABORTED_ANSWERS_GRACE} more), close the
   *       remaining connections and stop the server, then the simulator.
   * </ol>
   *
   * <p>Jetty's own {@code Server.stop()} closes the connections when its stop timeout runs out,
   * before the client could answer anyone: a request still waiting for the upstream then got an
   * empty 200 (Java 17) or a dropped connection (Java 21+, where the exchange runs on the request's
   * virtual thread). So the server is stopped last, with no graceful wait of its own.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    log.info(
        "llmrelay stopping: no new connections; waiting up to {} s for {} in-flight requests",
        shutdownTimeout.toMillis() / 1000.0,
        client.stats().inFlight());
    CompletableFuture<Void> requestsDone = stopAccepting();
    // Jobs drain beside the requests: running ones may finish within the same timeout (a job
    // finished here is not paid for twice), and none starts any more.
    CompletableFuture<Void> jobsDone =
        jobs == null ? CompletableFuture.completedFuture(null) : drainJobs(jobs, shutdownTimeout);
    try {
      if (!await(requestsDone, shutdownTimeout)) {
        log.warn(
            "shutdown timeout reached with {} requests still running; aborting them",
            client.stats().inFlight() + client.stats().queued());
      }
      await(jobsDone, shutdownTimeout);
    } finally {
      if (jobs != null) {
        try {
          jobs.close(); // before the client: a job still running is given back, not failed
        } catch (RuntimeException e) {
          log.warn("error while stopping the jobs: {}", e.toString());
        }
      }
      client.close(); // answers every exchange still running, on its open connection
      await(requestsDone, ABORTED_ANSWERS_GRACE);
      stopServer();
      if (simulator != null) {
        try {
          simulator.close();
        } catch (Exception e) {
          log.warn("error while stopping the simulator: {}", e.toString());
        }
      }
      log.info("llmrelay stopped");
    }
  }

  /**
   * Closes the listening sockets and makes the graceful handler refuse new requests. The future
   * completes when no request is in flight. Connections stay open: closing them is the last step.
   */
  private CompletableFuture<Void> stopAccepting() {
    for (Connector c : server.getConnectors()) {
      c.shutdown(); // its future waits for every connection to close: not what we wait for
    }
    GracefulHandler requests = server.getDescendant(GracefulHandler.class);
    return requests == null ? CompletableFuture.completedFuture(null) : requests.shutdown();
  }

  /** Runs the job service's graceful shutdown on a thread of its own; the future ends with it. */
  private static CompletableFuture<Void> drainJobs(RelayJobs jobs, Duration timeout) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    Thread drain = new Thread(() -> {
      try {
        jobs.shutdown(timeout);
        done.complete(null);
      } catch (RuntimeException e) {
        done.completeExceptionally(e);
      }
    }, "llmrelay-jobs-drain");
    drain.setDaemon(true);
    drain.start();
    return done;
  }

  /** Waits for {@code done} at most {@code timeout}; false when it did not complete in time. */
  private static boolean await(CompletableFuture<Void> done, Duration timeout) {
    try {
      done.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (TimeoutException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (ExecutionException e) {
      log.warn("error while waiting for in-flight requests: {}", e.getCause().toString());
      return false;
    }
  }

  /** Closes every connection and stops Jetty, without another graceful wait. */
  private void stopServer() {
    server.setStopTimeout(0);
    try {
      server.stop();
    } catch (Exception e) {
      log.warn("error while stopping the server: {}", e.toString());
    }
  }
}
