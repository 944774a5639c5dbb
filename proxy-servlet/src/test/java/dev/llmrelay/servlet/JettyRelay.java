package dev.llmrelay.servlet;

import dev.llmrelay.core.UpstreamClient;
import java.util.function.Consumer;
import okhttp3.HttpUrl;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ThreadPool;

/** A real embedded Jetty 12 (ee10) on 127.0.0.1 and a free port, serving the servlets under test. */
final class JettyRelay implements AutoCloseable {
  private final Server server;
  private final int port;

  private JettyRelay(Server server, int port) {
    this.server = server;
    this.port = port;
  }

  /** Jetty with both servlets mounted by {@link LlmRelayServlets#mount} at the root context. */
  static JettyRelay mount(UpstreamClient client) throws Exception {
    return start(context -> LlmRelayServlets.mount(context.getServletContext(), client));
  }

  /** The same, with the proxy keys clients must present. */
  static JettyRelay mount(UpstreamClient client, java.util.List<String> proxyKeys) throws Exception {
    return start(context -> LlmRelayServlets.mount(context.getServletContext(), client, proxyKeys));
  }

  /** Jetty with a root context that {@code setup} fills. */
  static JettyRelay start(Consumer<ServletContextHandler> setup) throws Exception {
    return start(new QueuedThreadPool(), setup);
  }

  /** Jetty on {@code threads} (a small pool shows what holds a thread) with a root context that {@code setup} fills. */
  static JettyRelay start(ThreadPool threads, Consumer<ServletContextHandler> setup) throws Exception {
    Server server = new Server(threads);
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler("/");
    setup.accept(context);
    server.setHandler(context);
    server.setStopTimeout(0); // no graceful wait for the test client's idle keep-alive connections
    server.start();
    return new JettyRelay(server, connector.getLocalPort());
  }

  int port() {
    return port;
  }

  HttpUrl url(String path) {
    return HttpUrl.get("http://127.0.0.1:" + port + path);
  }

  @Override
  public void close() {
    try {
      server.stop();
    } catch (Exception e) {
      throw new IllegalStateException("stopping the test server failed", e);
    }
  }
}
