package dev.llmrelay.servlet;

import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.InternalRelayException;
import dev.llmrelay.core.MethodNotAllowedException;
import dev.llmrelay.core.NotFoundException;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.servlet.internal.ClientBody;
import dev.llmrelay.servlet.internal.ClientHeaders;
import dev.llmrelay.servlet.internal.ClientRequestReader;
import dev.llmrelay.servlet.internal.ErrorResponses;
import dev.llmrelay.servlet.internal.LogSafe;
import dev.llmrelay.servlet.internal.Paths;
import dev.llmrelay.servlet.internal.ProxyKeyCheck;
import dev.llmrelay.servlet.internal.RequestIds;
import dev.llmrelay.servlet.internal.ServletResponseSink;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay endpoint: serves the allowlisted OpenAI-compatible endpoints of {@link Endpoint}
 * ({@code POST /v1/chat/completions}, {@code POST /v1/completions}, {@code POST /v1/embeddings},
 * {@code GET /v1/models}) through an {@link UpstreamClient}, JSON or SSE, with the core's
 * concurrency limit, retries and timeouts. Any other path gets a JSON 404 {@code not_found} and a
 * known path with the wrong method a JSON 405 {@code method_not_allowed} with {@code Allow}; so
 * mounted at {@code /} this servlet is the JSON 404 of the whole application. The path is matched
 * below the context path ({@code servletPath + pathInfo}), so mappings {@code /}, {@code /*} and
 * {@code /v1/*} all work.
 *
 * <p>Per request, before any permit is asked for: the proxy key is checked when {@code
 * RELAY_API_KEYS} is set (401 {@code invalid_proxy_key}), the body is read within {@code
 * MAX_REQUEST_BYTES} (413 {@code request_too_large}, refused on {@code Content-Length} before
 * reading) and must be one JSON object (400 {@code invalid_json}); none of these reaches the
 * upstream. Then the request goes async with no container timeout ({@code setTimeout(0)}: every
 * timeout is the core's) and the core delivers the response through a {@link
 * ServletResponseSink}. {@code X-Request-Id} is the client's (when it is 1 to 128 visible ASCII
 * characters) or a new UUID; it is sent upstream and set on every response, errors included.
 *
 * <p>Headers: the core drops hop-by-hop headers (and those {@code Connection} names), {@code Host}
 * and {@code Content-Length} in both directions and replaces {@code Authorization} when {@code
 * UPSTREAM_API_KEY} is set; with proxy keys configured the client's {@code Authorization} (the
 * proxy key) is never forwarded. {@code Expect} and {@code Cookie} stay at the proxy.
 *
 * <p>Thread-safety: a servlet instance serves concurrent requests; its state is set once in the
 * constructor or {@link #init()} and not changed afterwards. A platform container thread reads the
 * (bounded) body, starts the exchange and returns; it never waits for a permit or the upstream.
 * When the client was built with {@code runOnCallingVirtualThreads(true)} (the launcher does),
 * the container runs the servlet on a virtual thread (Jetty with a virtual-threads executor on
 * Java 21+) and a permit is free, the exchange runs on that thread instead of being handed to the
 * core's executor ({@link UpstreamClient#runOrStart}): one thread switch less per request. See
 * that builder method for what it costs (async errors wait for the exchange to end).
 *
 * <p>Register it with {@code asyncSupported=true} (as {@link LlmRelayServlets#mount} does).
 */
public final class RelayServlet extends HttpServlet {
  private static final long serialVersionUID = 1L;
  private static final Logger log = LoggerFactory.getLogger(RelayServlet.class);
  private static final int PATH_LOG_LENGTH = 200;

  /**
   * Request attribute through which a container adapter reports a client that leaves before its
   * response starts (the servlet API cannot): a {@code java.util.function.Consumer<Runnable>} the
   * servlet calls once, after the body was read, with the action that cancels the exchange.
   */
  public static final String CLIENT_GONE_HOOK = "dev.llmrelay.servlet.clientGoneHook";

  private transient volatile UpstreamClient client;
  private final boolean ownsClient;
  private transient volatile ProxyKeyCheck proxyKeys;
  private transient volatile ClientRequestReader bodyReader;

  /**
   * For {@code web.xml} (or any container that instantiates servlets itself): {@link #init()}
   * reads {@code RelayConfig.fromEnvironment(System.getenv(), Path.of(".env"))}, creates the client,
   * publishes it as {@link LlmRelayServlets#CLIENT_ATTRIBUTE} (for a {@link HealthServlet}) unless
   * one is set already, and {@link #destroy()} closes it.
   */
  public RelayServlet() {
    this.client = null;
    this.ownsClient = true;
  }

  /**
   * Serves through an existing client (the usual case for an application that embeds the relay).
   * The servlet does not close it.
   */
  public RelayServlet(UpstreamClient client) {
    this.client = Objects.requireNonNull(client, "client");
    this.ownsClient = false;
    configure(client.config());
  }

  /** Creates its own client from {@code config} and closes it in {@link #destroy()}. */
  public RelayServlet(RelayConfig config) {
    this.client = UpstreamClient.create(Objects.requireNonNull(config, "config"));
    this.ownsClient = true;
    configure(config);
  }

  /**
   * The client this servlet relays through.
   *
   * @throws IllegalStateException when the no-argument servlet was not initialised yet
   */
  public UpstreamClient client() {
    UpstreamClient c = client;
    if (c == null) {
      throw new IllegalStateException("RelayServlet created without a client is not initialised yet");
    }
    return c;
  }

  @Override
  public void init() throws ServletException {
    if (client == null) {
      RelayConfig config;
      try {
        config = RelayConfig.fromEnvironment(System.getenv(), Path.of(".env"));
      } catch (IllegalArgumentException e) {
        throw new ServletException("llmrelay: " + e.getMessage(), e);
      }
      client = UpstreamClient.create(config);
      configure(config);
      ServletContext context = getServletContext();
      if (context.getAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE) == null) {
        context.setAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE, client);
      }
      log.info("llmrelay relay servlet started with {}", config);
    }
  }

  @Override
  public void destroy() {
    UpstreamClient c = client;
    if (ownsClient && c != null) {
      ServletContext context = getServletConfig() == null ? null : getServletContext();
      if (context != null && context.getAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE) == c) {
        context.removeAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE);
      }
      c.close();
    }
  }

  private void configure(RelayConfig config) {
    this.proxyKeys = new ProxyKeyCheck(config.relayApiKeys());
    this.bodyReader = new ClientRequestReader(config.maxRequestBytes());
  }

  @Override
  protected void service(HttpServletRequest clientRequest, HttpServletResponse clientResponse) throws IOException {
    String requestId = RequestIds.fromClient(clientRequest.getHeader("X-Request-Id"));
    clientResponse.setHeader("X-Request-Id", requestId);
    String method = clientRequest.getMethod();
    String path = Paths.withinContext(clientRequest);
    ServletResponseSink sink = null;
    try {
      Optional<Endpoint> match = Endpoint.forClientPath(path);
      if (match.isEmpty()) {
        throw new NotFoundException(LogSafe.text(path, PATH_LOG_LENGTH));
      }
      Endpoint endpoint = match.get();
      if (!endpoint.method().equals(method)) {
        clientResponse.setHeader("Allow", endpoint.method());
        throw new MethodNotAllowedException(LogSafe.text(method, 20), endpoint.method());
      }
      proxyKeys.check(clientRequest.getHeader("Authorization"));
      ClientBody body =
          endpoint.hasBody()
              ? bodyReader.read(clientRequest.getContentLengthLong(), clientRequest.getInputStream())
              : ClientBody.EMPTY;
      ClientRequest relayRequest =
          new ClientRequest(
              endpoint,
              ClientHeaders.forwardable(clientRequest, proxyKeys.enabled()),
              body.bytes(),
              requestId,
              body.model(),
              body.streamRequested(),
              body.models());

      AsyncContext async = clientRequest.startAsync(clientRequest, clientResponse);
      async.setTimeout(0); // every timeout belongs to the core (PITFALLS P-J1)
      sink = new ServletResponseSink(async, clientResponse, requestId);
      async.addListener(sink);
      if (clientRequest.getAttribute(CLIENT_GONE_HOOK) instanceof java.util.function.Consumer<?> hook) {
        @SuppressWarnings("unchecked") // the attribute's documented type
        java.util.function.Consumer<Runnable> onClientGone = (java.util.function.Consumer<Runnable>) hook;
        onClientGone.accept(sink::clientGone);
      }
      client.runOrStart(relayRequest, sink, sink::attach);
    } catch (RelayException rejected) {
      reject(clientResponse, rejected, requestId, method, path);
    } catch (IOException e) {
      // Reading the body failed: the client has gone (or broke the framing); nobody to answer.
      log.debug("request {}: reading the client request failed: {}", requestId, e.toString());
    } catch (RuntimeException e) {
      log.error("request {}: unexpected failure", requestId, e);
      InternalRelayException internal = new InternalRelayException(0, e);
      if (sink != null) {
        sink.onFailure(internal);
      } else if (!clientRequest.isAsyncStarted()) {
        reject(clientResponse, internal, requestId, method, path);
      }
    }
  }

  /**
   * Answers a request the relay refuses before any upstream work, and accounts for it in the
   * client's stats, metrics and request log (one line per request, like every other request).
   */
  private void reject(
      HttpServletResponse clientResponse, RelayException rejected, String requestId, String method, String path)
      throws IOException {
    UpstreamClient c = client;
    if (c != null) {
      c.recordRejection(requestId, LogSafe.text(method, 20), LogSafe.text(path, PATH_LOG_LENGTH), rejected);
    }
    ErrorResponses.write(clientResponse, rejected, requestId);
  }
}
