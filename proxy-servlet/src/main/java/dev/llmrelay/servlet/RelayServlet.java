package dev.llmrelay.servlet;

import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.InternalRelayException;
import dev.llmrelay.servlet.internal.MethodNotAllowedException;
import dev.llmrelay.servlet.internal.NotFoundException;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.UpstreamExchange;
import dev.llmrelay.core.jobs.RelayJobs;
import dev.llmrelay.servlet.internal.JobEndpoints;
import dev.llmrelay.servlet.internal.JobRelayException;
import dev.llmrelay.servlet.internal.JobRoute;
import dev.llmrelay.servlet.internal.Prefer;
import dev.llmrelay.servlet.internal.StoreCalls;
import dev.llmrelay.servlet.internal.BlockingBodyRead;
import dev.llmrelay.servlet.internal.BodyDeadlines;
import dev.llmrelay.servlet.internal.ClientBody;
import dev.llmrelay.servlet.internal.ClientBodyListener;
import dev.llmrelay.servlet.internal.ClientHeaders;
import dev.llmrelay.servlet.internal.ClientRequestReader;
import dev.llmrelay.servlet.internal.ErrorResponses;
import dev.llmrelay.servlet.internal.IncompleteBodyException;
import dev.llmrelay.servlet.internal.LogSafe;
import dev.llmrelay.servlet.internal.PathPrefix;
import dev.llmrelay.servlet.internal.Paths;
import dev.llmrelay.servlet.internal.ProxyKeyCheck;
import dev.llmrelay.servlet.internal.RequestBodyTimeoutException;
import dev.llmrelay.servlet.internal.ServletResponseSink;
import dev.llmrelay.servlet.internal.VirtualThreads;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
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
 * below the context path ({@code servletPath + pathInfo}) and below the servlet's {@link
 * #pathPrefix(String) path prefix}, so at the root mappings {@code /}, {@code /*} and {@code /v1/*}
 * all work, and with prefix {@code /llm} the mapping is {@code /llm/*}.
 *
 * <p>Per request, before any permit is asked for: the proxy key is checked when {@code
 * RELAY_API_KEYS} is set (401 {@code invalid_proxy_key}) and a {@code Content-Length} over {@code
 * MAX_REQUEST_BYTES} is refused (413 {@code request_too_large}), both before a byte of the body is
 * read. Then the request goes async with no container timeout ({@code setTimeout(0)}: every
 * timeout is the core's or the body deadline's) and the body is read without blocking (a Servlet
 * {@code ReadListener}): within {@code MAX_REQUEST_BYTES} (413 while reading a body without
 * {@code Content-Length}), complete (400 {@code incomplete_body} when it ends before its {@code
 * Content-Length} or the client goes away; Tomcat refuses writes after a failed read, so there
 * the client sees the connection closed), with no gap between two reads longer than {@code CLIENT_BODY_TIMEOUT_SECONDS} (408
 * {@code request_body_timeout}, connection closed), and one JSON object (400 {@code invalid_json}).
 * None of these reaches the upstream, and each is counted ({@link UpstreamClient#recordRejection}).
 * Then the core delivers the response through a {@link ServletResponseSink}. {@code X-Request-Id}
 * is the client's (when it is 1 to 128 visible ASCII characters) or a new UUID; it is sent upstream
 * and set on every response, errors included.
 *
 * <p>Headers: the core drops hop-by-hop headers (and those {@code Connection} names), {@code Host}
 * and {@code Content-Length} in both directions and replaces {@code Authorization} when {@code
 * UPSTREAM_API_KEY} is set; with proxy keys configured the client's {@code Authorization} (the
 * proxy key) is never forwarded. {@code Expect} and {@code Cookie} stay at the proxy.
 *
 * <p>Thread-safety: a servlet instance serves concurrent requests; its state is set once in the
 * constructor or {@link #init()} and not changed afterwards. No platform container thread waits for
 * body bytes, a permit or the upstream: a container thread runs each read callback while bytes
 * are available, and the one that sees the end of the body parses it, starts the exchange and
 * returns (a 408 is written by the body deadline's timer thread). So slow uploads cannot starve a
 * small platform thread pool (Java 17). With {@link #executeOnVirtualThreads(boolean)} on and the
 * request on a virtual thread, that thread reads the body itself, under the same deadline (cheaper
 * than the read callbacks' hand-off, and a waiting virtual thread costs memory, not a pool). With {@link #executeOnVirtualThreads(boolean)} on (the launcher
 * turns it on) and the container calling back on a virtual thread (Jetty with a virtual-threads
 * executor on Java 21+), the exchange runs on that thread ({@link UpstreamExchange#execute()})
 * instead of being handed to the core's executor: one thread switch less per request.
 *
 * <p>Durable jobs, when the servlet has a {@link RelayJobs} ({@link #jobs(RelayJobs)}) with jobs
 * enabled: a proxied {@code POST} with {@code Prefer: respond-async} (RFC 7240), after the same
 * checks as above, is stored as a job and answered {@code 202 Accepted} with {@code Location}
 * ({@code <context path><prefix>/v1/relay/jobs/{id}}), {@code Preference-Applied: respond-async},
 * {@code Retry-After} and the job object; {@code wait=N} (at most 60 s and {@code MAX_WAIT_SECONDS})
 * runs it at once when a job slot is free and answers as the synchronous path would, plus {@code
 * X-Relay-Job-Id}, when it ends in time. Refused before anything is stored: {@code "stream": true}
 * (400 {@code async_stream_not_supported}) and a relay without {@code UPSTREAM_API_KEY} (400 {@code
 * async_requires_upstream_key}). An {@code Idempotency-Key} names the job: the same key and request
 * give the same job ({@code Idempotent-Replayed: true}), another request 422 {@code
 * idempotency_key_reused}. A failed store is 503 {@code job_store_unavailable} with {@code
 * Retry-After}. Below the prefix the job endpoints are served: {@code GET /v1/relay/jobs} (list),
 * {@code POST /v1/relay/jobs} (the explicit form {@code {"endpoint", "body", "metadata"}}), {@code
 * GET} and {@code DELETE /v1/relay/jobs/{id}}, {@code GET /v1/relay/jobs/{id}/result} and {@code
 * POST /v1/relay/jobs/{id}/cancel}; each job belongs to the proxy key that created it (one anonymous
 * owner without keys), and another owner's job is 404 {@code job_not_found}. Store calls block, so
 * they run on the request's own thread only when that is a virtual thread, else on an executor the
 * servlet owns and stops in {@link #destroy()}. Without jobs the preference is ignored (served
 * synchronously) and the job endpoints are 404.
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
  private transient volatile boolean ownsClient;
  private transient volatile PathPrefix pathPrefix = PathPrefix.ROOT;
  private transient volatile ProxyKeyCheck proxyKeys = new ProxyKeyCheck(List.of());
  private transient volatile ClientRequestReader bodyReader;
  private transient volatile Duration bodyTimeout;
  private transient volatile BodyDeadlines bodyDeadlines;
  /** Whether a request on a virtual thread runs its exchange there ({@link #executeOnVirtualThreads(boolean)}). */
  private volatile boolean executeOnVirtualThreads;
  private transient volatile BlockingBodyRead blockingReads;
  /** The job service, when one was given (it may have jobs switched off). */
  private transient volatile RelayJobs jobs;
  /** The job side of requests: null while jobs are off or the servlet has no client yet. */
  private transient volatile JobEndpoints jobEndpoints;
  /** Where store calls run when the request's thread may not block. */
  private final transient StoreCalls storeCalls = new StoreCalls();

  /**
   * For {@code web.xml} (or any container that instantiates servlets itself). {@link #init()}
   * reads the settings from the web application as {@link RelayVariables#fromWebapp} does (this
   * servlet's init parameters, the context parameters, the environment, then the {@code .env} file
   * named by {@code LLMRELAY_DOTENV}): {@code LLMRELAY_PATH_PREFIX} (default: the root, so map the
   * servlet at {@code /} or {@code /v1/*}; with {@code /llm} map it at {@code /llm/*}) and {@code
   * RELAY_API_KEYS}. When the context already holds a client ({@link
   * LlmRelayServlets#CLIENT_ATTRIBUTE}, set by {@link LlmRelayContextListener} for example) the
   * servlet uses that one and leaves it open: one client per web application. Otherwise it creates
   * one from the same settings ({@code RelayConfig.fromEnvironment}), publishes it for a {@link
   * HealthServlet}, and {@link #destroy()} closes it.
   */
  public RelayServlet() {
    this.client = null;
    this.ownsClient = true;
  }

  /**
   * Serves through an existing client (the usual case for an application that embeds the relay).
   * The servlet does not close it.
   *
   * @param client the upstream client, shared by every request
   */
  public RelayServlet(UpstreamClient client) {
    this.client = Objects.requireNonNull(client, "client");
    this.ownsClient = false;
    configure(client.config());
  }

  /**
   * Creates its own client from {@code config} and closes it in {@link #destroy()}.
   *
   * @param config the relay's configuration
   */
  public RelayServlet(RelayConfig config) {
    this.client = UpstreamClient.create(Objects.requireNonNull(config, "config"));
    this.ownsClient = true;
    configure(config);
  }

  /**
   * The keys clients must present as {@code Authorization: Bearer <key>} ({@code RELAY_API_KEYS});
   * without keys (the default) no key is checked. Blanks and repeats are dropped. With keys, the
   * client's {@code Authorization} is never forwarded upstream. Set it before the servlet serves.
   *
   * @param keys the accepted keys; empty turns the check off
   * @return this servlet
   */
  public RelayServlet proxyKeys(Collection<String> keys) {
    this.proxyKeys = new ProxyKeyCheck(keys.stream().map(String::trim).filter(k -> !k.isEmpty()).distinct().toList());
    return this;
  }

  /**
   * Where this servlet sits in its web application (default: the root). With {@code /llm}, map the
   * servlet at {@code /llm/*}: {@code /llm/v1/chat/completions} is the chat endpoint and any other
   * path below {@code /llm} gets the JSON 404. Set it before the servlet serves.
   *
   * @param prefix {@code "/llm"}-like (a leading {@code /}, no trailing {@code /}, no wildcard), or
   *     {@code ""} or {@code "/"} for the root
   * @return this servlet
   * @throws IllegalArgumentException when {@code prefix} is not a valid prefix (the message says why)
   */
  public RelayServlet pathPrefix(String prefix) {
    this.pathPrefix = PathPrefix.of(prefix);
    return this;
  }

  /**
   * Lets a request that the container runs on a virtual thread (Java 21+) run its exchange on that
   * thread, waiting there for a permit too, instead of handing it to the client's executor
   * (default: off; platform threads always hand off, so that a pooled container thread never
   * waits for a permit or the upstream). It saves a thread switch per request. Turn it on only
   * where a container's virtual threads are not capped (each waiting request holds one) and where
   * the container reports a client that went away while the servlet thread is busy (the launcher's
   * Jetty disconnect handler does, through {@link #CLIENT_GONE_HOOK}).
   *
   * @param enabled whether to run exchanges on the request's own virtual thread
   * @return this servlet
   */
  public RelayServlet executeOnVirtualThreads(boolean enabled) {
    this.executeOnVirtualThreads = enabled;
    return this;
  }

  /**
   * Turns durable jobs on: {@code Prefer: respond-async} submissions and the job endpoints, served
   * through {@code jobs} (see the class description). With {@code null}, or a service whose {@link
   * dev.llmrelay.core.jobs.JobsConfig#enabled()} is false, jobs stay off: the preference is ignored
   * and the job endpoints answer 404. The servlet does not close the service; close it after the
   * servlet stopped and before the client. Set it before the servlet serves. A servlet made by the
   * no-argument constructor takes the context attribute {@link LlmRelayServlets#JOBS_ATTRIBUTE} in
   * {@link #init()} when this was not called.
   *
   * @param jobs the job service started on this servlet's client, or null
   * @return this servlet
   */
  public RelayServlet jobs(RelayJobs jobs) {
    this.jobs = jobs;
    wireJobs();
    return this;
  }

  private void wireJobs() {
    RelayJobs j = jobs;
    UpstreamClient c = client;
    ClientRequestReader reader = bodyReader;
    jobEndpoints = j == null || c == null || reader == null || !j.config().enabled()
        ? null
        : new JobEndpoints(j, c, storeCalls, reader);
  }

  /**
   * The client this servlet relays through.
   *
   * @return the client
   * @throws IllegalStateException when the no-argument servlet was not initialised yet
   */
  public UpstreamClient client() {
    UpstreamClient c = client;
    if (c == null) {
      throw new IllegalStateException("RelayServlet created without a client is not initialised yet");
    }
    return c;
  }

  /**
   * Creates the client of a servlet made by its no-argument constructor (see there); nothing for
   * the others.
   *
   * @throws ServletException naming the setting when one is invalid (never with a key's value)
   */
  @Override
  public void init() throws ServletException {
    if (client == null) {
      ServletContext context = getServletContext();
      Map<String, String> vars;
      try {
        vars = RelayVariables.fromWebapp(context, getServletConfig(), System.getenv());
        if (vars.containsKey(RelayVariables.PATH_PREFIX)) {
          pathPrefix = PathPrefix.of(RelayVariables.pathPrefix(vars, ""));
        }
      } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
        throw new ServletException("llmrelay: " + e.getMessage(), e);
      }
      Object shared = context.getAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE);
      if (shared instanceof UpstreamClient existing) {
        client = existing;
        ownsClient = false;
        configure(existing.config());
        proxyKeys(RelayVariables.proxyKeys(vars));
        jobsFromContext(context);
        log.info("llmrelay relay servlet {} at {} uses the web application's client", getServletName(), pathPrefix);
        return;
      }
      RelayConfig config;
      try {
        config = RelayConfig.fromEnvironment(vars);
        client = UpstreamClient.builder(config)
            .sharedState(dev.llmrelay.core.shared.SharedStateConfig.fromEnvironment(vars))
            .build();
      } catch (IllegalArgumentException | IllegalStateException e) {
        throw new ServletException("llmrelay: " + e.getMessage(), e);
      }
      configure(config);
      proxyKeys(RelayVariables.proxyKeys(vars));
      jobsFromContext(context);
      context.setAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE, client);
      log.info("llmrelay relay servlet {} at {} started with {}", getServletName(), pathPrefix, config);
    }
  }

  private void jobsFromContext(ServletContext context) {
    if (jobs == null && context.getAttribute(LlmRelayServlets.JOBS_ATTRIBUTE) instanceof RelayJobs shared) {
      jobs = shared;
    }
    wireJobs();
  }

  /**
   * Stops this servlet's timers and store-call threads (their threads have ended when it returns)
   * and closes a client it owns; a job service is left open (its owner closes it).
   */
  @Override
  public void destroy() {
    storeCalls.close();
    BodyDeadlines deadlines = bodyDeadlines;
    if (deadlines != null) {
      deadlines.close();
    }
    BlockingBodyRead reads = blockingReads;
    if (reads != null) {
      reads.close();
    }
    UpstreamClient c = client;
    if (ownsClient && c != null) {
      ServletContext context = getServletConfig() == null ? null : getServletContext();
      if (context != null && context.getAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE) == c) {
        context.removeAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE);
      }
      c.close();
    }
  }

  /** The blocking reads' deadline sweep, started on first use (virtual threads only). */
  private BlockingBodyRead blockingReads() {
    BlockingBodyRead b = blockingReads;
    if (b == null) {
      synchronized (this) {
        b = blockingReads;
        if (b == null) {
          b = new BlockingBodyRead(bodyTimeout);
          blockingReads = b;
        }
      }
    }
    return b;
  }

  private void configure(RelayConfig config) {
    this.bodyReader = new ClientRequestReader(config.maxRequestBytes());
    this.bodyTimeout = config.clientBodyTimeout();
    this.bodyDeadlines = BodyDeadlines.create();
    wireJobs();
  }

  @Override
  protected void service(HttpServletRequest clientRequest, HttpServletResponse clientResponse) throws IOException {
    String requestId = RequestIds.fromClient(clientRequest.getHeader("X-Request-Id"));
    clientResponse.setHeader("X-Request-Id", requestId);
    String method = clientRequest.getMethod();
    String path = Paths.withinContext(clientRequest);
    String relayPath = pathPrefix.strip(path); // null: mapped outside its prefix, nothing of ours
    ServletResponseSink sink = null;
    try {
      Optional<Endpoint> match = relayPath == null ? Optional.empty() : Endpoint.forClientPath(relayPath);
      JobRoute jobRoute = match.isEmpty() && relayPath != null ? JobRoute.parse(relayPath) : null;
      JobEndpoints jobSide = jobEndpoints;
      Endpoint endpoint = match.orElse(null);
      if (jobRoute != null) {
        if (jobSide == null) {
          throw JobRelayException.jobsOff();
        }
        if (!jobRoute.allows(method)) {
          clientResponse.setHeader("Allow", jobRoute.kind().allow());
          throw new MethodNotAllowedException(LogSafe.text(method, 20), jobRoute.kind().allow());
        }
      } else if (endpoint == null) {
        throw new NotFoundException(LogSafe.text(path, PATH_LOG_LENGTH));
      } else if (!endpoint.method().equals(method)) {
        clientResponse.setHeader("Allow", endpoint.method());
        throw new MethodNotAllowedException(LogSafe.text(method, 20), endpoint.method());
      }
      String authorization = clientRequest.getHeader("Authorization");
      proxyKeys.check(authorization);
      boolean hasBody = jobRoute != null ? jobRoute.isSubmission(method) : endpoint.hasBody();
      // 413 on the declared length, before a byte is read or the request goes async
      ClientRequestReader.PartialBody body = hasBody ? bodyReader.start(clientRequest.getContentLengthLong()) : null;
      // Read before going async: a request object is not to be read from other threads.
      Prefer prefer = jobSide != null && hasBody ? Prefer.parse(clientRequest.getHeaders("Prefer")) : Prefer.NONE;
      String idempotencyKey = jobSide != null && hasBody ? clientRequest.getHeader("Idempotency-Key") : null;
      String listLimit = null;
      String listAfter = null;
      String listStatus = null;
      if (jobRoute != null && jobRoute.kind() == JobRoute.Kind.COLLECTION && !hasBody) {
        listLimit = clientRequest.getParameter("limit");
        listAfter = clientRequest.getParameter("after");
        listStatus = clientRequest.getParameter("status");
      }

      AsyncContext async = clientRequest.startAsync(clientRequest, clientResponse);
      async.setTimeout(0); // every timeout belongs to the core or the body deadline (PITFALLS P-J1)
      sink = new ServletResponseSink(async, clientResponse, requestId);
      async.addListener(sink);
      JobEndpoints.Exchange jobExchange =
          jobSide == null
              ? null
              : new JobEndpoints.Exchange(
                  client,
                  requestId,
                  LogSafe.text(method, 20),
                  LogSafe.text(path, PATH_LOG_LENGTH),
                  proxyKeys.owner(authorization),
                  clientRequest.getContextPath() + pathPrefix.value() + JobRoute.COLLECTION,
                  sink);
      if (jobRoute != null && !hasBody) {
        jobSide.serve(jobRoute, jobExchange, listLimit, listAfter, listStatus);
        return;
      }
      Map<String, List<String>> forwardable = ClientHeaders.forwardable(clientRequest, proxyKeys.enabled());
      ClientBodyListener.Continuation next;
      if (jobRoute != null) {
        next = new ExplicitSubmission(jobSide, jobExchange, prefer, forwardable, idempotencyKey, requestId, method, path, clientResponse, sink);
      } else {
        AsyncSubmission async202 =
            prefer.respondAsync() ? new AsyncSubmission(jobSide, jobExchange, prefer, idempotencyKey) : null;
        next =
            new AfterBody(
                endpoint, forwardable, requestId, method, path, clientResponse, sink,
                clientRequest.getAttribute(CLIENT_GONE_HOOK), async202);
      }
      if (body == null) {
        next.onBody(ClientBody.EMPTY);
      } else if (body.declaredLength() == 0) {
        next.onBody(bodyReader.finish(body)); // nothing to wait for (an empty body is invalid JSON)
      } else if (executeOnVirtualThreads && VirtualThreads.current()) {
        // A virtual thread may block: read here, under the same deadline (BlockingBodyRead).
        ClientBody read;
        try {
          read = blockingReads().read(bodyReader, body, clientRequest.getInputStream());
        } catch (RelayException refused) {
          next.onRejected(refused);
          return;
        }
        next.onBody(read);
      } else {
        new ClientBodyListener(
                bodyReader, body, clientRequest.getInputStream(), bodyTimeout, bodyDeadlines.timer(), requestId, next)
            .start(async);
      }
    } catch (RelayException rejected) {
      if (sink == null) {
        reject(clientResponse, rejected, requestId, method, path);
      } else {
        recordRejection(rejected, requestId, method, path);
        sink.onFailure(rejected);
      }
    } catch (IOException e) {
      // getInputStream failed: the client has gone before its body could be read
      log.debug("request {}: reading the client request failed: {}", requestId, e.toString());
      RelayException gone = new IncompleteBodyException(0, clientRequest.getContentLengthLong(), e);
      recordRejection(gone, requestId, method, path);
      if (sink != null) {
        sink.onFailure(gone);
      }
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
   * The rest of one request once its body is in: into the core, or answered with the error the
   * body earned. Runs on the thread that ended the read (a container thread, or the deadline's
   * timer thread for a 408).
   */
  private final class AfterBody implements ClientBodyListener.Continuation {
    private final Endpoint endpoint;
    private final Map<String, List<String>> headers;
    private final String requestId;
    private final String method;
    private final String path;
    private final HttpServletResponse clientResponse;
    private final ServletResponseSink sink;
    /** A container's {@link #CLIENT_GONE_HOOK}, or null. */
    private final Object clientRequestAttribute;
    /** Where the request goes instead when it asked for {@code respond-async} and jobs are on, or null. */
    private final AsyncSubmission asyncSubmission;

    AfterBody(
        Endpoint endpoint,
        Map<String, List<String>> headers,
        String requestId,
        String method,
        String path,
        HttpServletResponse clientResponse,
        ServletResponseSink sink,
        Object clientGoneHook,
        AsyncSubmission asyncSubmission) {
      this.endpoint = endpoint;
      this.headers = headers;
      this.requestId = requestId;
      this.method = method;
      this.path = path;
      this.clientResponse = clientResponse;
      this.sink = sink;
      this.clientRequestAttribute = clientGoneHook;
      this.asyncSubmission = asyncSubmission;
    }

    @Override
    public void onBody(ClientBody body) {
      if (asyncSubmission != null) {
        asyncSubmission.submit(endpoint, body, headers);
        return;
      }
      try {
        ClientRequest relayRequest =
            new ClientRequest(endpoint, headers, body.bytes(), requestId, body.model(), body.streamRequested(), body.models());
        if (clientRequestAttribute instanceof java.util.function.Consumer<?> hook) {
          @SuppressWarnings("unchecked") // the attribute's documented type
          java.util.function.Consumer<Runnable> onClientGone = (java.util.function.Consumer<Runnable>) hook;
          onClientGone.accept(sink::clientGone); // the body is read: the container may watch the connection now
        }
        UpstreamExchange exchange = client.newExchange(relayRequest, sink);
        sink.attach(exchange);
        if (executeOnVirtualThreads && VirtualThreads.current()) {
          exchange.execute(); // this request's own virtual thread runs it: no hand-off
        } else {
          exchange.start(); // a container thread never waits for a permit or the upstream
        }
      } catch (RuntimeException e) {
        log.error("request {}: unexpected failure", requestId, e);
        sink.onFailure(new InternalRelayException(0, e));
      }
    }

    @Override
    public void onRejected(RelayException error) {
      recordRejection(error, requestId, method, path);
      if (error instanceof RequestBodyTimeoutException || error instanceof IncompleteBodyException) {
        // The rest of the body is late or lost: the connection cannot carry another request.
        try {
          clientResponse.setHeader("Connection", "close");
        } catch (RuntimeException responseGone) {
          // completed by the container already; the sink will find out too
        }
      }
      sink.onFailure(error); // writes the error if anyone is left to read it, completes the async context
    }
  }

  /** A {@code Prefer: respond-async} request whose body was read: it becomes a job. */
  private record AsyncSubmission(
      JobEndpoints jobSide, JobEndpoints.Exchange exchange, Prefer prefer, String idempotencyKey) {
    void submit(Endpoint endpoint, ClientBody body, Map<String, List<String>> headers) {
      jobSide.submit(exchange, endpoint, body, null, prefer, headers, idempotencyKey);
    }
  }

  /**
   * The explicit submission, {@code POST /v1/relay/jobs}, once its body is in; its refusals while
   * reading are answered as on the synchronous path.
   */
  private final class ExplicitSubmission implements ClientBodyListener.Continuation {
    private final JobEndpoints jobSide;
    private final JobEndpoints.Exchange exchange;
    private final Prefer prefer;
    private final Map<String, List<String>> headers;
    private final String idempotencyKey;
    private final AfterBody refusals;

    ExplicitSubmission(
        JobEndpoints jobSide,
        JobEndpoints.Exchange exchange,
        Prefer prefer,
        Map<String, List<String>> headers,
        String idempotencyKey,
        String requestId,
        String method,
        String path,
        HttpServletResponse clientResponse,
        ServletResponseSink sink) {
      this.jobSide = jobSide;
      this.exchange = exchange;
      this.prefer = prefer;
      this.headers = headers;
      this.idempotencyKey = idempotencyKey;
      this.refusals = new AfterBody(null, headers, requestId, method, path, clientResponse, sink, null, null);
    }

    @Override
    public void onBody(ClientBody body) {
      jobSide.submitExplicit(exchange, body, prefer, headers, idempotencyKey);
    }

    @Override
    public void onRejected(RelayException error) {
      refusals.onRejected(error);
    }
  }

  /**
   * Answers a request the relay refuses before any upstream work, and accounts for it in the
   * client's stats, metrics and request log (one line per request, like every other request).
   */
  private void reject(
      HttpServletResponse clientResponse, RelayException rejected, String requestId, String method, String path)
      throws IOException {
    recordRejection(rejected, requestId, method, path);
    ErrorResponses.write(clientResponse, rejected, requestId);
  }

  private void recordRejection(RelayException rejected, String requestId, String method, String path) {
    UpstreamClient c = client;
    if (c != null) {
      c.recordRejection(requestId, LogSafe.text(method, 20), LogSafe.text(path, PATH_LOG_LENGTH), rejected);
    }
  }
}
