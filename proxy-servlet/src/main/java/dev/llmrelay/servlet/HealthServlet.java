package dev.llmrelay.servlet;

import dev.llmrelay.core.HealthReport;
import dev.llmrelay.core.UpstreamHealth;
import java.util.List;
import dev.llmrelay.servlet.internal.MethodNotAllowedException;
import dev.llmrelay.servlet.internal.NotFoundException;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.servlet.internal.ErrorResponses;
import dev.llmrelay.servlet.internal.HealthResponses;
import dev.llmrelay.servlet.internal.LogSafe;
import dev.llmrelay.servlet.internal.PathPrefix;
import dev.llmrelay.servlet.internal.Paths;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's health endpoints.
 *
 * <ul>
 *   <li>{@code GET /health}: liveness of the proxy itself, 200 {@code {"status":"ok",...}} with the
 *       gate's numbers ({@code max_concurrent}, {@code permits_available}, {@code in_flight}, {@code
 *       queued}); no upstream call.
 *   <li>{@code GET /health/upstream}: the upstream probe of {@link UpstreamClient#healthProbe()}
 *       (single flight, cached, never takes a chat permit), answered asynchronously: 200 {@code
 *       {"status":"ok","upstream":"reachable","response_time_ms":N}} or 503 {@code
 *       {"status":"error","upstream":"timeout|unreachable|http_error","response_time_ms":N,
 *       "message":"...","http_status":N}}. No key ever appears in it.
 * </ul>
 *
 * <p>Mapped exactly at {@code /health} and {@code /health/upstream}, or at {@code /health/*};
 * below a {@link #pathPrefix(String) path prefix} such as {@code /llm}, at {@code /llm/health} and
 * {@code /llm/health/upstream}. Other paths get a JSON 404, methods other than GET and HEAD a JSON
 * 405.
 *
 * <p>Thread-safety: the client is set once in the constructor or {@link #init()}; the servlet
 * serves concurrent requests. Register it with {@code asyncSupported=true}.
 */
public final class HealthServlet extends HttpServlet {
  private static final long serialVersionUID = 1L;
  private static final Logger log = LoggerFactory.getLogger(HealthServlet.class);

  private transient volatile UpstreamClient client;
  private transient volatile PathPrefix pathPrefix = PathPrefix.ROOT;

  /**
   * For {@code web.xml}: {@link #init()} takes the client from the context attribute {@link
   * LlmRelayServlets#CLIENT_ATTRIBUTE}, which {@link LlmRelayContextListener} or a {@link
   * RelayServlet} with a lower {@code load-on-startup} publishes, and the path prefix from {@code
   * LLMRELAY_PATH_PREFIX} as {@link RelayVariables#fromWebapp} finds it (default: the root).
   */
  public HealthServlet() {}

  /**
   * Reports on {@code client}; the servlet does not close it.
   *
   * @param client the upstream client whose health and gate this servlet reports
   */
  public HealthServlet(UpstreamClient client) {
    this.client = Objects.requireNonNull(client, "client");
  }

  /**
   * Where this servlet sits in its web application (default: the root). With {@code /llm}, map it
   * at {@code /llm/health} and {@code /llm/health/upstream}. Set it before the servlet serves.
   *
   * @param prefix {@code "/llm"}-like (a leading {@code /}, no trailing {@code /}, no wildcard), or
   *     {@code ""} or {@code "/"} for the root
   * @return this servlet
   * @throws IllegalArgumentException when {@code prefix} is not a valid prefix (the message says why)
   */
  public HealthServlet pathPrefix(String prefix) {
    this.pathPrefix = PathPrefix.of(prefix);
    return this;
  }

  /**
   * Finds the client of a servlet made by its no-argument constructor (see there).
   *
   * @throws ServletException when the context holds no client, or {@code LLMRELAY_PATH_PREFIX} is
   *     invalid
   */
  @Override
  public void init() throws ServletException {
    if (client == null) {
      try {
        java.util.Map<String, String> vars =
            RelayVariables.fromWebapp(getServletContext(), getServletConfig(), System.getenv());
        if (vars.containsKey(RelayVariables.PATH_PREFIX)) {
          pathPrefix = PathPrefix.of(RelayVariables.pathPrefix(vars, ""));
        }
      } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
        throw new ServletException("llmrelay: " + e.getMessage(), e);
      }
      Object shared = getServletContext().getAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE);
      if (!(shared instanceof UpstreamClient)) {
        throw new ServletException(
            "HealthServlet has no UpstreamClient: give it one, or initialise a RelayServlet first"
                + " (lower load-on-startup), which publishes its client as " + LlmRelayServlets.CLIENT_ATTRIBUTE);
      }
      client = (UpstreamClient) shared;
    }
  }

  @Override
  protected void service(HttpServletRequest clientRequest, HttpServletResponse clientResponse) throws IOException {
    String requestId = RequestIds.fromClient(clientRequest.getHeader("X-Request-Id"));
    clientResponse.setHeader("X-Request-Id", requestId);
    String fullPath = Paths.withinContext(clientRequest);
    String path = pathPrefix.strip(fullPath); // null: mapped outside its prefix, nothing of ours
    if (path != null && path.length() > 1 && path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    boolean liveness = "/health".equals(path);
    boolean upstream = "/health/upstream".equals(path);
    String method = clientRequest.getMethod();
    try {
      if (!liveness && !upstream) {
        throw new NotFoundException(LogSafe.text(fullPath, 200));
      }
      if (!method.equals("GET") && !method.equals("HEAD")) {
        clientResponse.setHeader("Allow", "GET, HEAD");
        throw new MethodNotAllowedException(LogSafe.text(method, 20), "GET");
      }
    } catch (RelayException rejected) {
      ErrorResponses.write(clientResponse, rejected, requestId);
      return;
    }
    if (liveness) {
      HealthResponses.write(
          clientResponse,
          200,
          HealthResponses.liveness(client.stats(), client.config().maxConcurrentRequests()),
          requestId);
    } else {
      probe(clientRequest, clientResponse, requestId);
    }
  }

  private void probe(HttpServletRequest clientRequest, HttpServletResponse clientResponse, String requestId) {
    long started = System.nanoTime();
    AsyncContext async = clientRequest.startAsync(clientRequest, clientResponse);
    // The probe is bounded by HEALTH_TIMEOUT_SECONDS in the core; the container timeout is only a
    // backstop that still answers in the documented shape.
    async.setTimeout(client.config().healthTimeout().toMillis() + 5_000);
    AtomicBoolean answered = new AtomicBoolean();
    async.addListener(
        new AsyncListener() {
          @Override
          public void onTimeout(AsyncEvent event) {
            long ms = (System.nanoTime() - started) / 1_000_000;
            answer(async, clientResponse, answered, requestId,
                new HealthReport(HealthReport.State.TIMEOUT, ms, 0, "the health probe did not finish", Instant.now()),
                List.of());
          }

          @Override
          public void onError(AsyncEvent event) {
            if (answered.compareAndSet(false, true)) {
              completeQuietly(async);
            }
          }

          @Override
          public void onComplete(AsyncEvent event) {}

          @Override
          public void onStartAsync(AsyncEvent event) {}
        });
    boolean severalRoutes = client.config().upstreams().size() > 1 || !client.config().modelFallbacks().isEmpty();
    if (severalRoutes) {
      client.healthProbe().checkEach().whenComplete((each, error) -> {
        if (each == null || each.isEmpty()) {
          answer(async, clientResponse, answered, requestId, failed(started, error, requestId), List.of());
        } else {
          HealthReport combined =
              each.stream().map(UpstreamHealth::report).filter(HealthReport::healthy).findFirst().orElse(each.get(0).report());
          answer(async, clientResponse, answered, requestId, combined, each);
        }
      });
      return;
    }
    client.healthProbe().check().whenComplete((report, error) -> {
      HealthReport r = report == null ? failed(started, error, requestId) : report;
      answer(async, clientResponse, answered, requestId, r, List.of());
    });
  }

  private static HealthReport failed(long started, Throwable error, String requestId) {
    log.warn("request {}: the health probe failed unexpectedly", requestId, error);
    long ms = (System.nanoTime() - started) / 1_000_000;
    return new HealthReport(HealthReport.State.UNREACHABLE, ms, 0, "the health probe failed", Instant.now());
  }

  private void answer(
      AsyncContext async,
      HttpServletResponse clientResponse,
      AtomicBoolean answered,
      String requestId,
      HealthReport report,
      List<UpstreamHealth> each) {
    if (!answered.compareAndSet(false, true)) {
      return;
    }
    try {
      List<String> keys = client.config().upstreams().stream().map(u -> u.apiKey()).filter(k -> k != null).toList();
      HealthResponses.write(
          clientResponse,
          report.endpointStatus(),
          HealthResponses.upstream(report, keys, each),
          requestId);
    } catch (IOException | RuntimeException e) {
      log.debug("request {}: could not send the health answer: {}", requestId, e.toString());
    } finally {
      completeQuietly(async);
    }
  }

  private static void completeQuietly(AsyncContext async) {
    try {
      async.complete();
    } catch (IllegalStateException ignored) {
      // the container already completed it
    }
  }
}
