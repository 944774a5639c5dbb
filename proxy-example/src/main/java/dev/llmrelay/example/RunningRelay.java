package dev.llmrelay.example;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A started proxy: its address, its client, and a graceful {@link #close()}. Thread-safe; closing
 * twice is harmless.
 */
public final class RunningRelay implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RunningRelay.class);

  private final Server server;
  private final ServerConnector connector;
  private final UpstreamClient client;
  private final AutoCloseable simulator;
  private final RelayConfig config;
  private final AtomicBoolean closed = new AtomicBoolean();

  RunningRelay(Server server, ServerConnector connector, UpstreamClient client, AutoCloseable simulator, RelayConfig config) {
    this.server = server;
    this.connector = connector;
    this.client = client;
    this.simulator = simulator;
    this.config = config;
  }

  /** The port the proxy listens on (resolved when {@code RELAY_PORT=0}). */
  public int port() {
    return connector.getLocalPort();
  }

  /** The base URL, e.g. {@code http://127.0.0.1:5000}. */
  public String url() {
    String host = config.relayHost().contains(":") ? "[" + config.relayHost() + "]" : config.relayHost();
    return "http://" + host + ":" + port();
  }

  /** The upstream client (for stats). */
  public UpstreamClient client() {
    return client;
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
   * Stops accepting, waits for in-flight requests up to the shutdown timeout, then cancels what
   * is left and releases the upstream client and the simulator.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    log.info("llmrelay stopping: waiting for in-flight requests ({} in flight)", client.stats().inFlight());
    try {
      server.stop();
    } catch (TimeoutException e) {
      log.warn("shutdown timeout reached with requests still running; cancelling them");
    } catch (Exception e) {
      log.warn("error while stopping the server: {}", e.toString());
    } finally {
      client.close();
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
}
