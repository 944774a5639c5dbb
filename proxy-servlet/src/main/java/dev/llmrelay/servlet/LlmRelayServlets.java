package dev.llmrelay.servlet;

import dev.llmrelay.core.UpstreamClient;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletRegistration;
import java.util.Objects;
import java.util.Set;

/**
 * Mounts the relay in a servlet context: {@link RelayServlet} at {@code /} (so it also answers the
 * JSON 404 for every unknown path) and {@link HealthServlet} at {@code /health} and {@code
 * /health/upstream}, both async-supported. Works wherever the Servlet 6 API allows adding servlets:
 * a {@code ServletContainerInitializer}, a declared {@code ServletContextListener} of a WAR, or an
 * embedded Jetty or Tomcat before start.
 *
 * <p>The caller owns the client and closes it when the context is destroyed. The client is also
 * published as the context attribute {@link #CLIENT_ATTRIBUTE}. Stateless.
 */
public final class LlmRelayServlets {
  /**
   * The context attribute holding the {@link UpstreamClient} of this context. Set by {@link #mount}
   * and by a {@link RelayServlet} that created its own client; read by a {@link HealthServlet}
   * declared without a client (in {@code web.xml}).
   */
  public static final String CLIENT_ATTRIBUTE = UpstreamClient.class.getName();
  /** The registration name of the relay servlet. */
  public static final String RELAY_SERVLET_NAME = "llmrelay";
  /** The registration name of the health servlet. */
  public static final String HEALTH_SERVLET_NAME = "llmrelay-health";

  private LlmRelayServlets() {}

  /**
   * Registers both servlets with {@code client}.
   *
   * @param context the servlet context, still being initialised
   * @param client the shared upstream client; not closed by the servlets
   * @throws IllegalStateException when a servlet of the same name or one of the mappings is taken
   */
  public static void mount(ServletContext context, UpstreamClient client) {
    mount(context, client, java.util.List.of());
  }

  /**
   * Like {@link #mount(ServletContext, UpstreamClient)}, with the proxy keys clients must present
   * on the relay's endpoints ({@code RELAY_API_KEYS}; see {@link RelayServlet#proxyKeys}).
   *
   * @param context the servlet context, still being initialised
   * @param client the shared upstream client; not closed by the servlets
   * @param proxyKeys the accepted keys; empty: no key check
   * @throws IllegalStateException when a servlet of the same name or one of the mappings is taken
   */
  public static void mount(ServletContext context, UpstreamClient client, java.util.Collection<String> proxyKeys) {
    Objects.requireNonNull(context, "context");
    Objects.requireNonNull(client, "client");
    context.setAttribute(CLIENT_ATTRIBUTE, client);
    register(context, RELAY_SERVLET_NAME, new RelayServlet(client).proxyKeys(proxyKeys), "/");
    register(context, HEALTH_SERVLET_NAME, new HealthServlet(client), "/health", "/health/upstream");
  }

  private static void register(ServletContext context, String name, jakarta.servlet.Servlet servlet, String... mappings) {
    ServletRegistration.Dynamic registration = context.addServlet(name, servlet);
    if (registration == null) {
      throw new IllegalStateException("A servlet named " + name + " is already registered");
    }
    registration.setAsyncSupported(true);
    registration.setLoadOnStartup(1);
    Set<String> conflicts = registration.addMapping(mappings);
    if (!conflicts.isEmpty()) {
      throw new IllegalStateException("Cannot map " + name + ": already mapped to another servlet: " + conflicts);
    }
  }
}
