package dev.llmrelay.servlet;

import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.jobs.RelayJobs;
import dev.llmrelay.servlet.internal.PathPrefix;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletRegistration;
import java.util.Collection;
import java.util.Objects;
import java.util.Set;

/**
 * Mounts the relay in a servlet context, both servlets async-supported:
 *
 * <ul>
 *   <li>under a prefix ({@link #mount(ServletContext, String, UpstreamClient, Collection)} with,
 *       say, {@code /llm}): {@link RelayServlet} at {@code /llm/*} (the endpoints {@code
 *       /llm/v1/...}, and a JSON 404 for any other path below {@code /llm}) and {@link
 *       HealthServlet} at {@code /llm/health} and {@code /llm/health/upstream}. Nothing is mapped
 *       outside the prefix, so the application's own servlets, its static files (the container's
 *       default servlet) and its own 404 page keep working beside the relay;
 *   <li>at the root ({@link #mount(ServletContext, UpstreamClient, Collection)}, the launcher's
 *       layout): {@link RelayServlet} at {@code /}, which replaces the container's default servlet
 *       and so answers the JSON 404 for every unknown path of the application, and {@link
 *       HealthServlet} at {@code /health} and {@code /health/upstream}.
 * </ul>
 *
 * <p>Works wherever the Servlet 6 API allows adding servlets: a {@code
 * ServletContainerInitializer}, a {@code ServletContextListener} declared in {@code web.xml} (such
 * as {@link LlmRelayContextListener}, which also creates and closes the client), or an embedded
 * Jetty or Tomcat before start.
 *
 * <p>With a {@link RelayJobs} ({@link #mount(ServletContext, String, UpstreamClient, Collection,
 * RelayJobs)}), the relay also takes {@code Prefer: respond-async} submissions and serves the job
 * endpoints below the prefix ({@code /llm/v1/relay/jobs...}; see {@link RelayServlet}).
 *
 * <p>The caller owns the client (and the job service) and closes them when the context is
 * destroyed, the job service first. The client is also published as the context attribute {@link
 * #CLIENT_ATTRIBUTE}, the job service as {@link #JOBS_ATTRIBUTE}. Stateless and thread-safe.
 */
public final class LlmRelayServlets {
  /**
   * The context attribute holding the {@link UpstreamClient} of this context. Set by {@link #mount}
   * and by a {@link RelayServlet} that created its own client; read by a {@link HealthServlet}
   * declared without a client (in {@code web.xml}).
   */
  public static final String CLIENT_ATTRIBUTE = UpstreamClient.class.getName();
  /**
   * The context attribute holding the {@link RelayJobs} of this context, when it has one. Set by
   * {@link #mount(ServletContext, String, UpstreamClient, Collection, RelayJobs)}; read by a {@link
   * RelayServlet} declared without a client (in {@code web.xml}).
   */
  public static final String JOBS_ATTRIBUTE = RelayJobs.class.getName();
  /** The registration name of the relay servlet. */
  public static final String RELAY_SERVLET_NAME = "llmrelay";
  /** The registration name of the health servlet. */
  public static final String HEALTH_SERVLET_NAME = "llmrelay-health";

  private LlmRelayServlets() {}

  /**
   * Registers both servlets with {@code client} at the root of the context.
   *
   * @param context the servlet context, still being initialised
   * @param client the shared upstream client; not closed by the servlets
   * @throws IllegalStateException when a servlet of the same name or one of the mappings is taken
   */
  public static void mount(ServletContext context, UpstreamClient client) {
    mount(context, "", client, java.util.List.of());
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
  public static void mount(ServletContext context, UpstreamClient client, Collection<String> proxyKeys) {
    mount(context, "", client, proxyKeys);
  }

  /**
   * Registers both servlets with {@code client} under {@code pathPrefix}: the relay at {@code
   * pathPrefix + "/*"}, the health endpoints at {@code pathPrefix + "/health"} and {@code
   * pathPrefix + "/health/upstream"}, nothing outside the prefix. An application's own mapping of
   * {@code /} or {@code /*} does not conflict (the longer path mapping wins below the prefix).
   *
   * @param context the servlet context, still being initialised
   * @param pathPrefix where the relay sits in the context: {@code "/llm"} or {@code "/api/llm"}
   *     (a leading {@code /}, no trailing {@code /}, no wildcard); {@code ""} or {@code "/"} for the
   *     root, as {@link #mount(ServletContext, UpstreamClient, Collection)}
   * @param client the shared upstream client; not closed by the servlets
   * @param proxyKeys the keys clients must present ({@code RELAY_API_KEYS}); empty: no key check
   * @throws IllegalArgumentException when {@code pathPrefix} is not a valid prefix (the message
   *     says why), before anything is registered
   * @throws IllegalStateException when a servlet of the same name or one of the mappings is taken
   */
  public static void mount(
      ServletContext context, String pathPrefix, UpstreamClient client, Collection<String> proxyKeys) {
    mount(context, pathPrefix, client, proxyKeys, null);
  }

  /**
   * Like {@link #mount(ServletContext, String, UpstreamClient, Collection)}, with durable jobs: the
   * relay takes {@code Prefer: respond-async} submissions and serves the job endpoints below the
   * prefix ({@code pathPrefix + "/v1/relay/jobs"} and below), through {@code jobs}.
   *
   * @param context the servlet context, still being initialised
   * @param pathPrefix where the relay sits in the context (see the four-argument form)
   * @param client the shared upstream client; not closed by the servlets
   * @param proxyKeys the keys clients must present ({@code RELAY_API_KEYS}); empty: no key check.
   *     Each key owns the jobs it created
   * @param jobs the job service started on {@code client}, not closed by the servlets; null (or a
   *     service with jobs switched off) mounts without jobs
   * @throws IllegalArgumentException when {@code pathPrefix} is not a valid prefix (the message
   *     says why), before anything is registered
   * @throws IllegalStateException when a servlet of the same name or one of the mappings is taken
   */
  public static void mount(
      ServletContext context, String pathPrefix, UpstreamClient client, Collection<String> proxyKeys, RelayJobs jobs) {
    Objects.requireNonNull(context, "context");
    Objects.requireNonNull(client, "client");
    Objects.requireNonNull(proxyKeys, "proxyKeys");
    PathPrefix prefix = PathPrefix.of(Objects.requireNonNull(pathPrefix, "pathPrefix"));
    context.setAttribute(CLIENT_ATTRIBUTE, client);
    if (jobs != null) {
      context.setAttribute(JOBS_ATTRIBUTE, jobs);
    }
    RelayServlet relay = new RelayServlet(client).proxyKeys(proxyKeys).pathPrefix(prefix.value()).jobs(jobs);
    HealthServlet health = new HealthServlet(client).pathPrefix(prefix.value());
    register(context, RELAY_SERVLET_NAME, relay, prefix.isRoot() ? "/" : prefix.mapping("/*"));
    register(context, HEALTH_SERVLET_NAME, health, prefix.mapping("/health"), prefix.mapping("/health/upstream"));
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
