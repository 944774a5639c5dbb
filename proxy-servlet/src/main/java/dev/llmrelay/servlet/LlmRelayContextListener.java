package dev.llmrelay.servlet;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.jobs.JobsConfig;
import dev.llmrelay.core.jobs.RelayJobs;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletContextEvent;
import jakarta.servlet.ServletContextListener;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay as a drop-in for an existing web application, in one line of {@code web.xml}:
 *
 * <pre>{@code
 * <listener>
 *   <listener-class>dev.llmrelay.servlet.LlmRelayContextListener</listener-class>
 * </listener>
 * }</pre>
 *
 * <p>When the application starts, it reads the relay's settings from the application ({@code
 * <context-param>}s, then the environment, then the {@code .env} file named by {@code
 * LLMRELAY_DOTENV}; see {@link RelayVariables#fromWebapp}), creates one {@link UpstreamClient} for
 * the application and mounts the relay under {@code LLMRELAY_PATH_PREFIX} (default {@value
 * #DEFAULT_PATH_PREFIX}): {@code /llm/v1/chat/completions}, {@code /llm/v1/models}, ..., {@code
 * /llm/health} and {@code /llm/health/upstream}, nothing outside the prefix, so the application's
 * own servlets and static files keep working ({@link LlmRelayServlets#mount(ServletContext,
 * String, UpstreamClient, java.util.Collection)}). The client is published as {@link
 * LlmRelayServlets#CLIENT_ATTRIBUTE}.
 *
 * <p>Durable jobs ({@code Prefer: respond-async}, {@code /llm/v1/relay/jobs}) are on when {@code
 * JOB_STORE_URL} is set (and {@code JOBS_ENABLED} is not {@code false}): unlike the launcher, the
 * drop-in has no default store, because a relative SQLite path would land in the container's
 * working directory and its temporary directory may be wiped on redeploy, which is no place for
 * work the relay promised to keep. Name the store ({@code jdbc:sqlite:/var/lib/myapp/jobs.db} or
 * {@code jdbc:postgresql://...}) and put its driver ({@code org.xerial:sqlite-jdbc} or {@code
 * org.postgresql:postgresql}) in the application. {@code JOBS_ENABLED=true} without {@code
 * JOB_STORE_URL} fails the start with a message saying so. The job service is published as {@link
 * LlmRelayServlets#JOBS_ATTRIBUTE}.
 *
 * <p>An invalid setting fails the application's start with an {@link IllegalStateException} whose
 * message names the setting (never a key's value), and nothing is left running. When the
 * application stops, it closes the job service (running jobs go back to the queue) and then the
 * client: running requests end (503 {@code relay_closed}, or an
 * in-band error in a stream already started), upstream connections close, and every thread the
 * relay started has ended before {@link #contextDestroyed} returns, so a container that undeploys
 * the application finds none of them.
 *
 * <p>Usable programmatically too, wherever a listener may add servlets: embedded Jetty's {@code
 * ServletContextHandler.addEventListener(new LlmRelayContextListener())} or embedded Tomcat's
 * {@code Context.addApplicationListener(LlmRelayContextListener.class.getName())}, with the
 * settings as context parameters. (The Servlet specification forbids a listener added by {@code
 * ServletContext.addListener}, for example from a {@code ServletContainerInitializer}, to add
 * servlets; there call {@link LlmRelayServlets#mount(ServletContext, String, UpstreamClient,
 * java.util.Collection)} directly and close the client yourself.)
 *
 * <p>One instance serves one application. Thread-safe: the container calls it once to start and
 * once to stop.
 */
public final class LlmRelayContextListener implements ServletContextListener {
  /** Where the relay is mounted when {@code LLMRELAY_PATH_PREFIX} is not set. */
  public static final String DEFAULT_PATH_PREFIX = "/llm";

  private static final Logger log = LoggerFactory.getLogger(LlmRelayContextListener.class);

  private volatile UpstreamClient client;
  private volatile RelayJobs jobs;

  /** A listener for {@code web.xml} or for programmatic registration; it does nothing until started. */
  public LlmRelayContextListener() {}

  /**
   * Reads the settings, creates the client and mounts the servlets.
   *
   * @param event the starting application
   * @throws IllegalStateException when a setting is invalid (the message names it), when the relay's
   *     servlet names or mappings are taken, or when this listener may not add servlets; nothing is
   *     left running
   */
  @Override
  public void contextInitialized(ServletContextEvent event) {
    ServletContext context = event.getServletContext();
    String application = context.getContextPath().isEmpty() ? "/" : context.getContextPath();
    Map<String, String> settings;
    RelayConfig config;
    dev.llmrelay.core.shared.SharedStateConfig shared;
    List<String> proxyKeys;
    String prefix;
    JobsConfig jobsConfig;
    try {
      settings = RelayVariables.fromWebapp(context, null, System.getenv());
      prefix = RelayVariables.pathPrefix(settings, DEFAULT_PATH_PREFIX);
      proxyKeys = RelayVariables.proxyKeys(settings);
      config = RelayConfig.fromEnvironment(settings);
      shared = dev.llmrelay.core.shared.SharedStateConfig.fromEnvironment(settings);
      jobsConfig = jobsConfig(settings, config.maxConcurrentRequests());
    } catch (IllegalArgumentException | UncheckedIOException e) {
      throw new IllegalStateException("llmrelay cannot start in " + application + ": " + e.getMessage(), e);
    }
    UpstreamClient created;
    try {
      created = UpstreamClient.builder(config).sharedState(shared).build();
    } catch (RuntimeException e) {
      throw new IllegalStateException("llmrelay cannot start in " + application + ": " + e.getMessage(), e);
    }
    RelayJobs startedJobs = null;
    if (jobsConfig != null) {
      try {
        startedJobs = RelayJobs.start(created, jobsConfig);
      } catch (RuntimeException e) {
        created.close();
        throw new IllegalStateException("llmrelay cannot start in " + application + ": " + e.getMessage(), e);
      }
    }
    try {
      LlmRelayServlets.mount(context, prefix, created, proxyKeys, startedJobs);
    } catch (UnsupportedOperationException e) {
      closeJobs(startedJobs);
      created.close();
      throw new IllegalStateException(
          "llmrelay cannot start in " + application + ": this listener may not add servlets (it was added by"
              + " ServletContext.addListener); declare it in web.xml, or call LlmRelayServlets.mount instead",
          e);
    } catch (RuntimeException e) {
      closeJobs(startedJobs);
      created.close();
      throw new IllegalStateException("llmrelay cannot start in " + application + ": " + e.getMessage(), e);
    }
    client = created;
    jobs = startedJobs;
    log.info(
        "llmrelay mounted in {} at {}/* ({}/health, {}/health/upstream){}, {} with {}",
        application,
        prefix,
        prefix,
        prefix,
        proxyKeys.isEmpty() ? "" : ", " + proxyKeys.size() + " proxy key(s)",
        startedJobs == null ? "jobs off (set JOB_STORE_URL to turn them on)" : "jobs on at " + prefix + "/v1/relay/jobs",
        config);
  }

  /**
   * The job settings, or null when jobs are off: on only with {@code JOB_STORE_URL} (see the class
   * description).
   */
  static JobsConfig jobsConfig(Map<String, String> settings, int maxConcurrentRequests) {
    JobsConfig jobsConfig = JobsConfig.fromEnvironment(settings, maxConcurrentRequests); // validates every JOB_* value
    String url = settings.get("JOB_STORE_URL");
    boolean storeNamed = url != null && !url.isBlank();
    String enabled = settings.get("JOBS_ENABLED");
    boolean askedFor = enabled != null && !enabled.isBlank() && jobsConfig.enabled();
    if (!storeNamed) {
      if (askedFor) {
        throw new IllegalArgumentException(
            "JOBS_ENABLED=" + enabled.trim() + " needs JOB_STORE_URL in a web application (there is no default store:"
                + " a relative SQLite file would land in the container's working directory); set it to"
                + " jdbc:sqlite:/absolute/path/jobs.db or jdbc:postgresql://host:port/db");
      }
      return null;
    }
    return jobsConfig.enabled() ? jobsConfig : null;
  }

  private static void closeJobs(RelayJobs jobs) {
    if (jobs != null) {
      jobs.close();
    }
  }

  /**
   * Closes the job service, then the client; every thread of the relay has ended when this returns.
   *
   * @param event the stopping application
   */
  @Override
  public void contextDestroyed(ServletContextEvent event) {
    UpstreamClient c = client;
    RelayJobs j = jobs;
    client = null;
    jobs = null;
    if (c == null) {
      return;
    }
    ServletContext context = event.getServletContext();
    if (j != null) {
      if (context.getAttribute(LlmRelayServlets.JOBS_ATTRIBUTE) == j) {
        context.removeAttribute(LlmRelayServlets.JOBS_ATTRIBUTE);
      }
      j.close(); // running jobs go back to the queue before the client aborts their exchanges
    }
    if (context.getAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE) == c) {
      context.removeAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE);
    }
    c.close();
    log.info("llmrelay closed in {}", context.getContextPath().isEmpty() ? "/" : context.getContextPath());
  }

  /**
   * The job service this listener started.
   *
   * @return the job service, or empty when jobs are off or the application is not running
   */
  public java.util.Optional<RelayJobs> jobs() {
    return java.util.Optional.ofNullable(jobs);
  }

  /**
   * The client this listener created.
   *
   * @return the client, while the application runs
   * @throws IllegalStateException before the application started or after it stopped
   */
  public UpstreamClient client() {
    UpstreamClient c = client;
    if (c == null) {
      throw new IllegalStateException("the llmrelay listener is not started");
    }
    return c;
  }
}
