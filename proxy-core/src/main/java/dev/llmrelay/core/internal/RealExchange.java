package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import dev.failsafe.Failsafe;
import dev.failsafe.FailsafeException;
import dev.failsafe.RetryPolicy;
import dev.failsafe.function.ContextualSupplier;
import dev.llmrelay.core.AttemptRecord;
import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.InternalRelayException;
import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.RelayClosedException;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.ResponseSink;
import dev.llmrelay.core.TokenUsage;
import dev.llmrelay.core.UpstreamBadResponseException;
import dev.llmrelay.core.UpstreamErrorException;
import dev.llmrelay.core.UpstreamExchange;
import dev.llmrelay.core.UpstreamTimeoutException;
import dev.llmrelay.core.UpstreamUnreachableException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLException;
import okhttp3.Call;
import okhttp3.Headers;
import okhttp3.MediaType;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.Buffer;
import okio.BufferedSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client request on its way through the relay: permit, attempts, delivery, release.
 *
 * <p>The legs are named as in Jetty's proxy: the {@code clientRequest} arrives, each attempt sends
 * an {@code upstreamRequest} and gets an {@code upstreamResponse}, and the {@code sink} receives
 * the client response. Everything that can end the exchange (success, failure, client gone,
 * cancel) funnels into {@link #finish}, which releases the permit exactly once.
 *
 * <p>Thread-safety: {@link #cancel()} may be called from any thread; everything else runs on one
 * executor thread once the permit is granted (or on the calling virtual thread, when {@link
 * #start} may run it there and the permit was free at once).
 */
final class RealExchange implements UpstreamExchange {
  static final Logger attemptLog = LoggerFactory.getLogger("dev.llmrelay.attempts");
  private static final Logger log = LoggerFactory.getLogger(RealExchange.class);
  private static final MediaType JSON = MediaType.get("application/json");
  private static final int READ_SIZE = 8192;
  /** Client headers the relay sets itself or must not forward. */
  private static final Set<String> NOT_FORWARDED_UP = Set.of("accept-encoding", "x-request-id");
  /** Upstream headers the relay replaces. */
  private static final Set<String> NOT_FORWARDED_DOWN =
      Set.of("x-relay-attempts", "x-request-id", "content-encoding");

  private final RealUpstreamClient client;
  private final RelayConfig config;
  private final ClientRequest clientRequest;
  private final ResponseSink sink;
  private final long startNanos = System.nanoTime();
  private final CompletableFuture<ExchangeResult> completion = new CompletableFuture<>();
  private final AtomicBoolean finished = new AtomicBoolean();

  /** The caller cancelled (the client went away): the sink gets no further call. */
  private volatile boolean cancelled;
  /** The client is closing: stop, but still tell the client (503 relay_closed or an in-band error). */
  private volatile boolean aborting;
  private volatile Thread runner;
  private final Object runnerLock = new Object();
  private volatile CompletableFuture<ConcurrencyGate.Permit> permitFuture;
  private volatile ConcurrencyGate.Permit permit;
  private volatile dev.failsafe.Call<AttemptResult> failsafeCall;
  private volatile Call upstreamCall;

  /** Where the exchange is, for the client-disconnect metric. */
  private volatile Phase phase = Phase.QUEUED;

  // Written by the exchange thread, read in finish() on the same thread (or before it started).
  private volatile int attempts;
  private final List<AttemptRecord> trail = new ArrayList<>(2);
  private long queueWaitNanos;
  private long attemptStartNanos;
  private FirstEventDeadline firstEventDeadline;
  private long headersNanos = -1;
  private long firstEventNanos = -1;
  private long bytesOut;
  private boolean streamed;
  private Outcome outcome;
  private int status;
  private String errorCode;
  private String midStreamCause;
  private TokenUsage tokens;
  private String lastFailureReason = "";

  /** Phases a client can leave in; names as in the {@code client_disconnects} metric. */
  enum Phase {
    QUEUED("queued"),
    WAITING_HEADERS("waiting_headers"),
    BACKOFF("backoff"),
    STREAMING("streaming");

    final String metricName;

    Phase(String metricName) {
      this.metricName = metricName;
    }
  }

  RealExchange(RealUpstreamClient client, ClientRequest clientRequest, ResponseSink sink) {
    this.client = client;
    this.config = client.config();
    this.clientRequest = clientRequest;
    this.sink = sink;
  }

  /**
   * Asks for a permit and runs the exchange once it is granted.
   *
   * @param mayRunHere the calling thread may run the exchange (a virtual thread, see {@link
   *     RealUpstreamClient#runOrStart}): then a permit granted at once runs it here, saving a
   *     hand-off; this call returns when the exchange ended
   */
  void start(boolean mayRunHere) {
    if (cancelled || aborting) {
      // Cancelled (or the client closed) before it started: never join the permit queue.
      onPermit(null, new CancellationException());
      return;
    }
    CompletableFuture<ConcurrencyGate.Permit> f = client.gate().acquire(clientRequest.requestId());
    permitFuture = f;
    if (cancelled || aborting) {
      f.cancel(false); // a stop() that ran before permitFuture was set could not do this
    }
    if (mayRunHere && f.isDone() && !f.isCompletedExceptionally()) {
      onPermit(f.join(), null);
      return;
    }
    // Continue on an exchange thread: a permit is often granted on the thread of the exchange
    // that released it, and a wait expires on the shared scheduler; neither may run this one.
    f.whenCompleteAsync(this::onPermit, client.exchangeExecutor());
  }

  @Override
  public void cancel() {
    if (finished.get()) {
      return;
    }
    cancelled = true;
    stop();
  }

  /**
   * Stops the exchange because the client is closing. Unlike {@link #cancel()} the client is
   * still told: 503 {@code relay_closed} before the commit point, an in-band error event after.
   */
  void abort() {
    if (finished.get()) {
      return;
    }
    aborting = true;
    stop();
  }

  private void stop() {
    CompletableFuture<ConcurrencyGate.Permit> pf = permitFuture;
    if (pf != null) {
      pf.cancel(false);
    }
    dev.failsafe.Call<AttemptResult> fc = failsafeCall;
    if (fc != null) {
      fc.cancel(true);
    }
    Call c = upstreamCall;
    if (c != null) {
      c.cancel();
    }
    synchronized (runnerLock) {
      Thread t = runner;
      if (t != null && phase == Phase.BACKOFF) {
        // Failsafe makes a backoff interruptible only after its retry listener ran; interrupting
        // the sleeping thread ourselves closes that window. Under the lock that run() takes to
        // clear `runner`, so no interrupt reaches the thread after the exchange left it (it may
        // be the caller's own thread, see start(boolean)).
        t.interrupt();
      }
    }
  }

  @Override
  public CompletionStage<ExchangeResult> completion() {
    return completion;
  }

  private void onPermit(ConcurrencyGate.Permit granted, Throwable error) {
    queueWaitNanos = System.nanoTime() - startNanos;
    if (error != null) {
      Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
      if (cancelled) {
        finish(Outcome.CLIENT_CANCELLED, 0);
      } else if (aborting || cause instanceof CancellationException) {
        RelayClosedException closed = new RelayClosedException();
        failBeforeCommit(closed, Outcome.REJECTED);
        finish(Outcome.REJECTED, closed.status());
      } else if (cause instanceof RelayException rex) {
        failBeforeCommit(rex, Outcome.REJECTED);
        finish(Outcome.REJECTED, rex.status());
      } else {
        failBeforeCommit(new InternalRelayException(0, cause), Outcome.BAD_RESPONSE);
        finish(Outcome.BAD_RESPONSE, 500);
      }
      return;
    }
    permit = granted;
    if (cancelled) {
      finish(Outcome.CLIENT_CANCELLED, 0);
      return;
    }
    if (aborting || client.isClosed()) {
      RelayClosedException closed = new RelayClosedException();
      failBeforeCommit(closed, Outcome.REJECTED);
      finish(Outcome.REJECTED, closed.status());
      return;
    }
    run();
  }

  private void run() {
    AttemptResult result = null;
    boolean interruptedBefore = Thread.currentThread().isInterrupted();
    runner = Thread.currentThread();
    try {
      if (cancelled || aborting) {
        throw new CancellationException();
      }
      planRoutes();
      dev.failsafe.Call<AttemptResult> fc =
          Failsafe.with(retryPolicy())
              .newCall((ContextualSupplier<AttemptResult, AttemptResult>) this::attempt);
      failsafeCall = fc;
      if (cancelled || aborting) {
        throw new CancellationException();
      }
      result = fc.execute();
      if (attempts > 1 || debug()) {
        debugLine("success on attempt {}/{} (HTTP {}{})", attempts, maxAttemptsShown(), result.status, routeSuffix(currentRoute));
      }
      deliver(result);
    } catch (Throwable t) {
      if (result != null) {
        result.abandon();
      }
      onFailure(t);
    } finally {
      for (AttemptResult r : java.util.Arrays.asList(result, activeSource)) {
        if (r != null) {
          if (outcome == Outcome.SUCCESS) {
            r.release(); // a finished stream: its connection goes back to the pool
          } else {
            r.abandon();
          }
        }
      }
      releaseRetryBudget();
      synchronized (runnerLock) {
        runner = null;
      }
      // A cancel may have interrupted a backoff: never leak that to the thread's owner (a pool,
      // or the caller), but keep an interrupt the thread had before the exchange.
      if (Thread.interrupted() && interruptedBefore) {
        Thread.currentThread().interrupt();
      }
      finish(outcome == null ? Outcome.CLIENT_CANCELLED : outcome, status);
    }
  }

  // ---- routes -----------------------------------------------------------------------------

  /** The routes of this request, in order, and where the next attempt goes. */
  private List<Route> routes;
  private int routeIndex;
  private int attemptsOnRoute;
  private Route currentRoute;
  /** The delay before the next attempt, decided with the route it goes to. */
  private Duration nextDelay = Duration.ZERO;
  private boolean retryBudgetHeld;
  /** The last planning found no attempt left (so the client should not retry either). */
  private boolean attemptsExhausted;
  private final Map<String, byte[]> bodiesByModel = new java.util.HashMap<>(4);

  private void planRoutes() {
    Router router = client.router();
    List<String> chain = router.modelChain(clientRequest.model(), clientRequest.models());
    routes = router.routesFor(chain);
    if (routes.isEmpty()) {
      // No upstream serves any model of the chain: send it, unchanged, to the primary.
      routes = router.routesFor(java.util.Collections.singletonList(null));
    }
    routeIndex = 0;
    attemptsOnRoute = 0;
  }

  private int maxAttemptsShown() {
    return routes != null && routes.size() > 1 ? config.maxRouteAttempts() : Math.min(config.maxAttempts(), config.maxRouteAttempts());
  }

  private String routeSuffix(Route route) {
    return route == null || !routed() ? "" : " via " + route.name();
  }

  /** Whether this request is routed (several upstreams or models): then routes are named. */
  private boolean routed() {
    return client.router().routingActive() || !clientRequest.models().isEmpty();
  }

  private RetryPolicy<AttemptResult> retryPolicy() {
    return RetryPolicy.<AttemptResult>builder()
        .withMaxAttempts(config.maxRouteAttempts())
        .handleIf(e -> e instanceof AttemptFailure af && af.retry)
        .handleResultIf(r -> r.retry)
        .withDelayFn(ctx -> nextDelay)
        .onRetryScheduled(e -> {
          phase = Phase.BACKOFF;
          client.recorder().retry();
          if (attemptLogOn()) {
            debugLine(
                "retrying in {}s after {}{}",
                String.format(Locale.ROOT, "%.1f", e.getDelay().toMillis() / 1000.0),
                lastFailureReason,
                routes.size() > 1 && routes.get(routeIndex) != currentRoute ? " on " + routes.get(routeIndex).name() : "");
          }
        })
        .build();
  }

  /** What the next attempt should do after a failure of this kind. */
  private enum Move {
    /** Retry the same route (5xx, 429, connect errors, resets), after a backoff. */
    SAME_ROUTE,
    /** Go to the next route at once (timeouts: waiting on the same one again is wasted time). */
    NEXT_ROUTE,
    /** Go to the first route with another model (the model cannot take this request). */
    NEXT_MODEL,
    /** Stop: return what we have. */
    STOP
  }

  /**
   * Decides where the next attempt goes and whether there is one, within MAX_ATTEMPTS per route,
   * MAX_ROUTE_ATTEMPTS per request and the retry budget; sets {@link #nextDelay}.
   */
  private boolean planNext(Move move, Duration retryAfter) {
    attemptsExhausted = true;
    if (move == Move.STOP || cancelled || aborting || attempts >= config.maxRouteAttempts()) {
      return false;
    }
    int next = -1;
    boolean sameRoute = false;
    boolean waitable = retryAfter == null || retryAfter.compareTo(config.retryAfterMax()) <= 0;
    if (move == Move.SAME_ROUTE && attemptsOnRoute < config.maxAttempts() && waitable) {
      next = routeIndex;
      sameRoute = true;
    } else if (move == Move.NEXT_MODEL) {
      next = nextAllowed(routeIndex + 1, routes.get(routeIndex).model);
    } else {
      next = nextAllowed(routeIndex + 1, null);
      if (next < 0 && move == Move.NEXT_ROUTE && attemptsOnRoute < config.maxAttempts()) {
        next = routeIndex; // a single route: a timeout is retried on it, as DESIGN.md §2 says
        sameRoute = true;
      }
    }
    if (next < 0) {
      // Attempts were left on this route but the upstream asked for a longer wait than we take.
      attemptsExhausted = waitable || attemptsOnRoute >= config.maxAttempts();
      return false;
    }
    if (!client.retryBudget().tryAcquire()) {
      lastFailureReason += " (retry budget spent)";
      return false;
    }
    retryBudgetHeld = true;
    if (!sameRoute) {
      routeIndex = next;
      attemptsOnRoute = 0;
      nextDelay = Duration.ZERO; // another route: no reason to wait
    } else {
      nextDelay = client.backoff().delay(attemptsOnRoute, retryAfter);
    }
    return true;
  }

  /** The first route from {@code from} whose breaker would let a request through and whose model differs from {@code notModel}. */
  private int nextAllowed(int from, String notModel) {
    for (int i = from; i < routes.size(); i++) {
      Route r = routes.get(i);
      if (notModel != null && notModel.equals(r.model)) {
        continue;
      }
      if (r.breaker.wouldAllow()) {
        return i;
      }
    }
    return -1;
  }

  private void releaseRetryBudget() {
    if (retryBudgetHeld) {
      retryBudgetHeld = false;
      client.retryBudget().release();
    }
  }

  /**
   * One attempt, inside the retry policy: picks its route (skipping open breakers), sends it,
   * records the result in the trail and the route's breaker, and decides whether and where the
   * next attempt goes.
   */
  private AttemptResult attempt(dev.failsafe.ExecutionContext<AttemptResult> ctx) {
    releaseRetryBudget(); // the retry that brought us here is now running, not pending
    if (cancelled || aborting) {
      throw new CancellationException();
    }
    Route route = acquireRoute();
    currentRoute = route;
    int n = ctx.getAttemptCount() + 1;
    attempts = n;
    attemptsOnRoute++;
    phase = Phase.WAITING_HEADERS;
    long started = System.nanoTime();
    attemptStartNanos = started;
    headersNanos = -1;
    firstEventNanos = -1;
    try {
      AttemptResult result = sendAttempt(n, route, ctx);
      record(n, Integer.toString(result.status), started, route);
      int code = result.status;
      if (code >= 500) {
        route.breaker.failure();
      } else if (code >= 400) {
        route.breaker.neutral(); // 4xx and 429 say nothing about the provider's health
      } else {
        route.breaker.success();
        if (headersNanos >= 0) {
          route.adaptive.record(Duration.ofNanos(headersNanos));
        }
      }
      Move move;
      if (result.retryableStatus) {
        move = Move.SAME_ROUTE;
      } else if (code == 400 && contextLengthExceeded(result.body)) {
        lastFailureReason = "context_length_exceeded";
        move = Move.NEXT_MODEL;
      } else {
        move = Move.STOP;
      }
      result.retry = move != Move.STOP && planNext(move, result.retryAfter);
      return result;
    } catch (AttemptFailure f) {
      record(n, f.kind.reason, started, route);
      route.breaker.failure();
      f.retry = planNext(f.kind.isTimeout() ? Move.NEXT_ROUTE : Move.SAME_ROUTE, null);
      throw f;
    } catch (UpstreamBadResponseException bad) {
      record(n, "bad_response", started, route);
      route.breaker.failure();
      throw bad;
    } catch (RuntimeException other) {
      record(n, "cancelled", started, route);
      route.breaker.neutral();
      throw other;
    }
  }

  /** Adds an attempt to the trail, naming its route only when the request is routed. */
  private void record(int n, String result, long startedNanos, Route route) {
    boolean named = routed();
    trail.add(new AttemptRecord(n, result, Duration.ofNanos(System.nanoTime() - startedNanos),
        named ? route.upstream.name() : null, named ? route.model : null));
  }

  /** The route for this attempt: the planned one, or the next whose breaker lets it through. */
  private Route acquireRoute() {
    for (int i = routeIndex; i < routes.size(); i++) {
      Route r = routes.get(i);
      if (r.breaker.tryAcquire()) {
        if (i != routeIndex) {
          routeIndex = i;
          attemptsOnRoute = 0;
        }
        return r;
      }
    }
    Duration soonest = null;
    StringBuilder open = new StringBuilder();
    for (Route r : routes) {
      Duration d = r.breaker.remainingOpen();
      if (soonest == null || d.compareTo(soonest) < 0) {
        soonest = d;
      }
      if (open.length() > 0) {
        open.append(", ");
      }
      open.append(r.name());
    }
    throw new dev.llmrelay.core.UpstreamCircuitOpenException(
        open.toString(), soonest == null ? Duration.ofSeconds(1) : soonest, attempts); // attempts made so far
  }

  private static final byte[] CONTEXT_LENGTH = "context_length_exceeded".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private static boolean contextLengthExceeded(byte[] body) {
    outer:
    for (int i = 0; i <= body.length - CONTEXT_LENGTH.length; i++) {
      for (int j = 0; j < CONTEXT_LENGTH.length; j++) {
        if (body[i + j] != CONTEXT_LENGTH[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  private Request buildUpstreamRequest(Route route) {
    Upstream upstream = route.upstream;
    Map<String, List<String>> forwarded = HopByHopHeaders.endToEnd(clientRequest.headers(), NOT_FORWARDED_UP);
    Headers.Builder headers = new Headers.Builder();
    // The primary without a key passes the client's Authorization through; any other upstream
    // gets its own key or none: a client's key for one provider never goes to another.
    boolean keepClientAuthorization = upstream.config.key().isEmpty() && upstream.config.primary();
    forwarded.forEach((name, values) -> {
      if (!keepClientAuthorization && name.equalsIgnoreCase("authorization")) {
        return;
      }
      for (String v : values) {
        headers.addUnsafeNonAscii(name, v);
      }
    });
    upstream.config.key().ifPresent(key -> headers.set("Authorization", "Bearer " + key));
    headers.set("X-Request-Id", clientRequest.requestId());
    Request.Builder upstreamRequest =
        new Request.Builder().url(upstream.urlFor(clientRequest.endpoint())).headers(headers.build());
    if (clientRequest.endpoint().hasBody()) {
      List<String> ct = clientRequest.headers().get("Content-Type");
      MediaType type = ct == null || ct.isEmpty() ? JSON : MediaType.parse(ct.get(0));
      upstreamRequest.post(RequestBody.create(bodyFor(route.model), type == null ? JSON : type));
    } else {
      upstreamRequest.get();
    }
    return upstreamRequest.build();
  }

  /**
   * The body sent for {@code model}: the client's bytes untouched when they already name it
   * (the common case), else rewritten with Jackson to carry exactly that one model.
   */
  private byte[] bodyFor(String model) {
    if (continuationBody != null) {
      com.fasterxml.jackson.databind.node.ObjectNode copy = continuationBody.deepCopy();
      if (model != null) {
        copy.put("model", model);
      }
      try {
        return Json.MAPPER.writeValueAsBytes(copy);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    if (model == null || (model.equals(clientRequest.model()) && clientRequest.models().isEmpty())) {
      return clientRequest.body();
    }
    return bodiesByModel.computeIfAbsent(model, m -> {
      try {
        com.fasterxml.jackson.databind.JsonNode tree = Json.MAPPER.readTree(clientRequest.body());
        if (!(tree instanceof com.fasterxml.jackson.databind.node.ObjectNode object)) {
          return clientRequest.body();
        }
        object.put("model", m);
        object.remove("models");
        return Json.MAPPER.writeValueAsBytes(object);
      } catch (IOException e) {
        return clientRequest.body(); // the servlet validated it; an embedder's odd body goes as is
      }
    });
  }

  private AttemptResult sendAttempt(int n, Route route, dev.failsafe.ExecutionContext<AttemptResult> ctx) {
    boolean first = n == 1;
    Duration configured = first ? config.attemptTimeout() : config.retryTimeout();
    Duration timeout = config.adaptiveTimeouts() ? route.adaptive.limit(configured) : configured;
    if (attemptLogOn()) {
      debugLine("attempt {}/{} to upstream{} [timeout {}]", n, maxAttemptsShown(), routeSuffix(route), seconds(timeout));
    }
    Request upstreamRequest = buildUpstreamRequest(route);
    Call call = client.okHttp().newCall(upstreamRequest);
    upstreamCall = call;
    if (ctx != null) {
      ctx.onCancel(call::cancel);
    }
    if (cancelled || aborting) {
      call.cancel();
      throw new CancellationException();
    }
    // The attempt's time-to-headers limit: a timer on the client's scheduler that cancels the
    // call, which ends a blocked connect, TLS handshake, request write or header read at once.
    HeaderDeadline deadline = new HeaderDeadline(call, timeout, client.scheduler());
    Response upstreamResponse;
    try {
      upstreamResponse = call.execute();
    } catch (IOException | RuntimeException e) {
      if (!deadline.disarm() && !cancelled && !aborting) {
        throw headerTimeout(n, timeout);
      }
      throw attemptFailed(n, classify(e, null));
    }
    if (!deadline.disarm()) {
      // The timer fired just as the headers arrived: a timeout. Cancel before closing, or closing
      // would first try to drain the body the timer's cancel is about to cut.
      call.cancel();
      upstreamResponse.close();
      if (cancelled || aborting) {
        throw new CancellationException("cancelled");
      }
      throw headerTimeout(n, timeout);
    }
    headersNanos = System.nanoTime() - attemptStartNanos;
    return readAttempt(n, call, upstreamResponse);
  }

  private RuntimeException headerTimeout(int n, Duration timeout) {
    client.recorder().attemptTimeout();
    return attemptFailed(
        n, new AttemptFailure(AttemptFailure.Kind.TIMEOUT, "no response headers within " + seconds(timeout), null));
  }

  private AttemptResult readAttempt(int n, Call call, Response upstreamResponse) {
    int code = upstreamResponse.code();
    Headers headers = upstreamResponse.headers();
    String contentType = headers.get("Content-Type");
    boolean sse =
        code >= 200 && code < 300 && contentType != null
            && contentType.toLowerCase(Locale.ROOT).startsWith("text/event-stream");
    IdleWatchdog watchdog = null;
    boolean keepOpen = false;
    boolean clean = false;
    try {
      watchdog = new IdleWatchdog(call, config.streamIdleTimeout().toNanos(), client.scheduler());
      BufferedSource source = upstreamResponse.body().source();
      if (sse) {
        SseEventScanner scanner = new SseEventScanner(READ_SIZE * 2);
        if (!config.firstEventTimeout().isZero()) {
          firstEventDeadline = new FirstEventDeadline(call, config.firstEventTimeout(), client.scheduler());
        }
        while (!scanner.hasDataEvent()) {
          int r = source.read(scanner.writableBuffer(READ_SIZE), scanner.writeOffset(), READ_SIZE);
          if (r == -1) {
            throw new AttemptFailure(
                AttemptFailure.Kind.BROKEN, "the stream ended before its first data event", null);
          }
          watchdog.touch();
          scanner.appended(r);
          if (scanner.size() > config.maxResponseBytes()) {
            throw new UpstreamBadResponseException(
                "The upstream stream sent more than MAX_RESPONSE_BYTES before its first event.", n);
          }
        }
        keepOpen = true;
        if (firstEventDeadline != null) {
          firstEventDeadline.cancel();
          firstEventDeadline = null;
        }
        firstEventNanos = System.nanoTime() - attemptStartNanos;
        return AttemptResult.stream(code, headers, upstreamResponse, call, scanner, watchdog);
      }
      Buffer body = new Buffer();
      long max = config.maxResponseBytes();
      while (source.read(body, READ_SIZE) != -1) {
        watchdog.touch();
        if (body.size() > max) {
          throw new UpstreamBadResponseException(
              "The upstream response is larger than MAX_RESPONSE_BYTES (" + max + " bytes).", n);
        }
      }
      clean = true;
      boolean retryableStatus = code == 408 || code == 429 || code >= 500;
      Duration retryAfter =
          code == 429 || code == 503 ? RetryAfter.parse(headers, client.clock()).orElse(null) : null;
      boolean waitable = retryAfter == null || retryAfter.compareTo(config.retryAfterMax()) <= 0;
      if (retryableStatus) {
        lastFailureReason = "HTTP " + code;
        if (n < config.maxAttempts() || debug()) {
          debugLine(
              "HTTP {} on attempt {}/{}{}",
              code,
              n,
              maxAttemptsShown(),
              waitable ? "" : " with Retry-After " + seconds(retryAfter) + " above RETRY_AFTER_MAX_SECONDS: returned");
        }
      }
      return AttemptResult.complete(code, headers, body.readByteArray(), retryAfter, retryableStatus);
    } catch (IOException e) {
      if (firstEventDeadline != null && firstEventDeadline.fired()) {
        client.recorder().attemptTimeout();
        throw attemptFailed(
            n,
            new AttemptFailure(
                AttemptFailure.Kind.FIRST_EVENT_TIMEOUT,
                "no data event within " + seconds(config.firstEventTimeout()) + " of the response headers",
                e));
      }
      if (watchdog != null && watchdog.fired()) {
        client.recorder().attemptTimeout();
        throw attemptFailed(
            n,
            new AttemptFailure(
                AttemptFailure.Kind.IDLE_TIMEOUT,
                "the response body was silent for " + seconds(config.streamIdleTimeout()),
                e));
      }
      throw attemptFailed(n, classify(e, "the response body broke: "));
    } finally {
      if (firstEventDeadline != null) {
        firstEventDeadline.cancel();
        firstEventDeadline = null;
      }
      if (!keepOpen) {
        if (watchdog != null) {
          watchdog.close();
        }
        if (!clean) {
          call.cancel();
        }
        upstreamResponse.close();
      }
    }
  }

  /** Maps an I/O failure of an attempt to an {@link AttemptFailure}, or to cancellation. */
  private RuntimeException classify(Throwable e, String prefix) {
    if (cancelled || aborting) {
      return new CancellationException("cancelled");
    }
    if (e instanceof AttemptFailure af) {
      return af;
    }
    if (e instanceof RuntimeException re) {
      return re;
    }
    String p = prefix == null ? "" : prefix;
    if (e instanceof SocketTimeoutException || (e instanceof InterruptedIOException && "timeout".equals(e.getMessage()))) {
      client.recorder().attemptTimeout();
      return new AttemptFailure(AttemptFailure.Kind.TIMEOUT, p + e, e);
    }
    client.recorder().attemptConnectError();
    if (e instanceof ConnectException || e instanceof UnknownHostException || e instanceof NoRouteToHostException || e instanceof SSLException) {
      return new AttemptFailure(AttemptFailure.Kind.CONNECT, p + e, e);
    }
    return new AttemptFailure(AttemptFailure.Kind.BROKEN, p + e, e);
  }

  private RuntimeException attemptFailed(int n, RuntimeException failure) {
    if (failure instanceof AttemptFailure af) {
      lastFailureReason = af.kind.reason;
      if (n < config.maxAttempts() || debug()) {
        debugLine("{} on attempt {}/{}: {}", af.kind.reason, n, maxAttemptsShown(), af.getMessage());
      }
    }
    return failure;
  }

  // ---- delivery ---------------------------------------------------------------------------

  private void deliver(AttemptResult result) throws ClientGone {
    if (result.isStream()) {
      stream(result);
      return;
    }
    int code = result.status;
    boolean exhausted = result.retryableStatus && attemptsExhausted;
    Outcome o = outcomeFor(code);
    phase = Phase.STREAMING;
    if (code >= 400 && !JsonBodies.inspect(result.body).valid()) {
      failBeforeCommit(new UpstreamErrorException(code, result.retryAfter, !exhausted, attempts), o);
      return;
    }
    JsonBodies.Inspection inspection =
        code >= 200 && code < 300 && isJsonType(result.headers) ? JsonBodies.inspect(result.body) : null;
    if (inspection != null) {
      tokens = inspection.usage();
    }
    if (inspection != null && !inspection.valid()) {
      failBeforeCommit(
          new UpstreamBadResponseException("The upstream answered HTTP " + code + " with a body that is not valid JSON.", attempts),
          Outcome.BAD_RESPONSE);
      return;
    }
    outcome = o;
    status = code;
    Map<String, List<String>> clientHeaders = clientHeaders(result.headers, exhausted);
    try {
      checkNotCancelled();
      sink.onResponse(code, clientHeaders);
      if (result.body.length > 0) {
        checkNotCancelled();
        sink.onBody(result.body, 0, result.body.length);
        bytesOut += result.body.length;
      }
      checkNotCancelled();
      sink.onComplete();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  // ---- streams ----------------------------------------------------------------------------

  /** Why a stream stopped before its end: a metric-friendly cause and a sentence. */
  private record Break(String cause, String reason) {}

  /** Each continuation attempt's result, for the request log and metrics. */
  private final List<String> continuations = new ArrayList<>(1);
  /** The routes that served this stream, in order (for the trailing comment). */
  private final List<String> servedBy = new ArrayList<>(2);
  /** What the client has of a chat stream; null when the stream may not be continued. */
  private ChatStreamState chat;
  /** Set while a continuation runs: the body every route is sent (model replaced per route). */
  private com.fasterxml.jackson.databind.node.ObjectNode continuationBody;
  private boolean doneSeen;
  /** The stream being forwarded now (a continuation's, after a break), closed when the exchange ends. */
  private AttemptResult activeSource;

  private void stream(AttemptResult first) throws ClientGone {
    streamed = true;
    phase = Phase.STREAMING;
    status = first.status;
    chat = config.streamContinuation() && clientRequest.endpoint() == Endpoint.CHAT_COMPLETIONS ? new ChatStreamState() : null;
    if (currentRoute != null) {
      servedBy.add(currentRoute.name());
    }
    first.watchdog.pause(); // time spent writing to a slow client is not upstream silence
    try {
      checkNotCancelled();
      sink.onResponse(first.status, clientHeaders(first.headers, false)); // the commit point
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    AttemptResult source = first;
    activeSource = first;
    boolean continued = false;
    while (true) {
      Break broke = pump(source, continued);
      if (broke == null) {
        endStream(source, continued);
        return;
      }
      String refusal =
          chat == null ? null : chat.notContinuable(config.maxContinuationChars());
      if (chat == null || aborting || "too_large".equals(broke.cause()) || refusal != null) {
        if (refusal != null) {
          continuations.add("not_continuable");
          log.info("request {}: the broken stream is not continued: {}", clientRequest.requestId(), refusal);
        }
        midStreamFailure(first, source, broke.cause(), broke.reason(), true);
        return;
      }
      // Close the broken upstream before anyone else writes into this stream.
      source.abandon();
      if (currentRoute != null) {
        currentRoute.breaker.failure();
      }
      log.warn(
          "request {}: stream broke after {} characters ({}); asking the next route for the rest",
          clientRequest.requestId(),
          chat.length(),
          broke.reason());
      AttemptResult next = openContinuation();
      if (next == null) {
        midStreamFailure(first, source, broke.cause(), broke.reason(), false);
        return;
      }
      source = next;
      activeSource = next;
      continued = true;
    }
  }

  /**
   * Forwards one upstream's events until it ends cleanly (null) or breaks. A continuation's events
   * are rewritten to carry the stream's original id and created.
   */
  private Break pump(AttemptResult source, boolean rewrite) throws ClientGone {
    SseEventScanner scanner = source.scanner;
    BufferedSource in = source.streamResponse.body().source();
    doneSeen = false;
    Break broke;
    source.watchdog.pause();
    try {
      broke = forwardEvents(scanner, rewrite);
      sink.flush();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    source.watchdog.resume();
    if (broke != null) {
      return broke;
    }
    boolean dirty = false;
    while (!doneSeen && !scanner.sawDone()) {
      int r;
      try {
        r = in.read(scanner.writableBuffer(READ_SIZE), scanner.writeOffset(), READ_SIZE);
      } catch (IOException e) {
        if (cancelled) {
          throw new CancellationException();
        }
        if (aborting) {
          return new Break("shutdown", "the relay is shutting down");
        }
        if (finished(scanner)) {
          return null; // the answer was complete; the transport ended untidily after it
        }
        boolean idle = source.watchdog.fired();
        return idle
            ? new Break("idle_timeout", "the upstream stream was silent for " + seconds(config.streamIdleTimeout()))
            : new Break("reset", "the upstream connection broke (" + e.getMessage() + ")");
      }
      if (r == -1) {
        if (!finished(scanner)) {
          return new Break("eof", "the upstream closed the stream before it finished");
        }
        if (!rewrite && scanner.size() > 0) {
          // A finished stream whose upstream closed without the final blank line: end the last
          // event so that SSE parsers dispatch it. After a broken transport the tail is dropped.
          byte[] end = scanner.terminator();
          try {
            checkNotCancelled();
            sink.onBody(scanner.buffer(), 0, scanner.size());
            sink.onBody(end, 0, end.length);
          } catch (IOException e) {
            throw new ClientGone(e);
          }
          bytesOut += scanner.size() + end.length;
          scanner.consume(scanner.size());
        }
        return null;
      }
      scanner.appended(r);
      source.watchdog.pause();
      try {
        int before = scanner.size();
        broke = forwardEvents(scanner, rewrite);
        dirty |= scanner.size() != before;
        if (dirty && in.getBuffer().size() == 0) {
          sink.flush(); // flush exactly when the next read would block
          dirty = false;
        }
      } catch (IOException e) {
        throw new ClientGone(e);
      }
      source.watchdog.resume();
      if (broke != null) {
        return broke;
      }
      if (scanner.size() > config.maxResponseBytes()) {
        return new Break("too_large", "an upstream event exceeded MAX_RESPONSE_BYTES");
      }
    }
    return null;
  }

  private boolean finished(SseEventScanner scanner) {
    return chat != null ? chat.finished() || scanner.sawFinishReason() : scanner.sawFinishReason();
  }

  /**
   * Forwards the complete events held by {@code scanner}. Without a chat state, in one write; with
   * one, each data event is read (to keep what the client has) and an upstream's in-band error
   * event is held back, because the stream may still be continued.
   */
  private Break forwardEvents(SseEventScanner scanner, boolean rewrite) throws IOException {
    int n = scanner.completeLength();
    if (n == 0) {
      return null;
    }
    checkNotCancelled();
    byte[] buf = scanner.buffer();
    if (chat == null) {
      sink.onBody(buf, 0, n);
      bytesOut += n;
      scanner.consume(n);
      return null;
    }
    int pending = 0; // start of bytes not yet written (plain mode)
    int eventStart = 0;
    int lineStart = 0;
    boolean eventHasData = false;
    ChatStreamState.Kind kind = ChatStreamState.Kind.CHUNK;
    int dataFrom = -1;
    int dataTo = -1;
    for (int i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        continue;
      }
      int end = i > lineStart && buf[i - 1] == '\r' ? i - 1 : i;
      if (end == lineStart) {
        int eventEnd = i + 1;
        if (eventHasData && kind == ChatStreamState.Kind.ERROR) {
          if (!rewrite && eventStart > pending) {
            sink.onBody(buf, pending, eventStart - pending);
            bytesOut += eventStart - pending;
          }
          scanner.consume(eventEnd);
          return new Break("error_event", "the upstream reported an error inside the stream");
        }
        if (rewrite) {
          if (eventHasData && kind == ChatStreamState.Kind.DONE) {
            doneSeen = true;
          } else if (eventHasData) {
            byte[] out = chat.rewrite(buf, dataFrom, dataTo);
            if (out != null) {
              sink.onBody(out, 0, out.length);
              bytesOut += out.length;
            }
          } else {
            sink.onBody(buf, eventStart, eventEnd - eventStart); // a comment
            bytesOut += eventEnd - eventStart;
          }
        } else if (eventHasData && kind == ChatStreamState.Kind.DONE) {
          doneSeen = true;
        }
        eventStart = eventEnd;
        eventHasData = false;
        kind = ChatStreamState.Kind.CHUNK;
      } else if (end - lineStart >= 5 && buf[lineStart] == 'd' && buf[lineStart + 1] == 'a' && buf[lineStart + 2] == 't'
          && buf[lineStart + 3] == 'a' && buf[lineStart + 4] == ':') {
        int p = lineStart + 5;
        if (p < end && buf[p] == ' ') {
          p++;
        }
        ChatStreamState.Kind k = chat.observe(buf, p, end);
        if (!eventHasData || k != ChatStreamState.Kind.CHUNK) {
          kind = k;
        }
        eventHasData = true;
        dataFrom = p;
        dataTo = end;
      }
      lineStart = i + 1;
    }
    if (!rewrite && n > pending) {
      sink.onBody(buf, pending, n - pending);
      bytesOut += n - pending;
    }
    scanner.consume(n);
    return null;
  }

  /** A stream ended well: after a continuation, say which routes served it, then [DONE]. */
  private void endStream(AttemptResult source, boolean continued) throws ClientGone {
    try {
      checkNotCancelled();
      if (continued) {
        byte[] trailer = (": llmrelay routes=" + String.join(",", servedBy) + "\n\ndata: [DONE]\n\n")
            .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        sink.onBody(trailer, 0, trailer.length);
        bytesOut += trailer.length;
      }
      sink.flush();
      sink.onComplete();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    outcome = Outcome.SUCCESS;
    if (continued) {
      log.info("request {}: stream continued to its end; routes {}", clientRequest.requestId(), servedBy);
    }
    streamTokens(source.scanner);
    if (source != null && source.streamResponse != null) {
      source.release();
    }
  }

  /**
   * Asks the next routes for the rest of a broken chat stream: the original request plus one
   * assistant message holding the text already sent. Same model first when its breaker allows,
   * then the fallback chain; within MAX_ROUTE_ATTEMPTS and the retry budget. A route that refuses
   * the prefill (400) is skipped; its answer is never shown. Returns the continuation's stream,
   * committed to its first data event, or null when no route can continue.
   */
  private AttemptResult openContinuation() {
    com.fasterxml.jackson.databind.node.ObjectNode body = prefilledBody(chat.content());
    if (body == null) {
      continuations.add("not_continuable");
      return null;
    }
    continuationBody = body;
    List<Route> candidates = new ArrayList<>(routes.size());
    if (currentRoute != null) {
      candidates.add(currentRoute);
    }
    for (Route r : routes) {
      if (r != currentRoute) {
        candidates.add(r);
      }
    }
    try {
      for (Route route : candidates) {
        if (cancelled || aborting || attempts >= config.maxRouteAttempts()) {
          break;
        }
        if (!route.breaker.tryAcquire()) {
          continue;
        }
        if (!client.retryBudget().tryAcquire()) {
          route.breaker.neutral();
          continuations.add("failed");
          break;
        }
        int n = attempts + 1;
        attempts = n;
        currentRoute = route;
        long started = System.nanoTime();
        attemptStartNanos = started;
        try {
          AttemptResult r = sendAttempt(n, route, null);
          record(n, Integer.toString(r.status), started, route);
          if (r.isStream()) {
            route.breaker.success();
            continuations.add("success");
            servedBy.add(route.name());
            return r;
          }
          if (r.status == 400) {
            route.breaker.neutral();
            continuations.add("prefill_rejected");
            log.info("request {}: {} refused the continuation (HTTP 400); trying the next route",
                clientRequest.requestId(), route.name());
          } else {
            if (r.status >= 500) {
              route.breaker.failure();
            } else {
              route.breaker.neutral();
            }
            continuations.add("failed");
          }
        } catch (AttemptFailure f) {
          record(n, f.kind.reason, started, route);
          route.breaker.failure();
          continuations.add("failed");
        } catch (UpstreamBadResponseException bad) {
          record(n, "bad_response", started, route);
          route.breaker.failure();
          continuations.add("failed");
        } finally {
          client.retryBudget().release();
        }
      }
      return null;
    } finally {
      continuationBody = null;
    }
  }

  /** The request plus an assistant message with {@code sent}; null when it cannot be continued (n > 1). */
  private com.fasterxml.jackson.databind.node.ObjectNode prefilledBody(String sent) {
    try {
      com.fasterxml.jackson.databind.JsonNode tree = Json.MAPPER.readTree(clientRequest.body());
      if (!(tree instanceof com.fasterxml.jackson.databind.node.ObjectNode object)
          || !object.path("messages").isArray()
          || object.path("n").asInt(1) > 1) {
        return null;
      }
      object.remove("models");
      object.put("stream", true);
      com.fasterxml.jackson.databind.node.ObjectNode prefill = ((com.fasterxml.jackson.databind.node.ArrayNode) object.get("messages")).addObject();
      prefill.put("role", "assistant");
      prefill.put("content", sent);
      return object;
    } catch (IOException e) {
      return null;
    }
  }

  private void streamTokens(SseEventScanner scanner) {
    byte[] usage = scanner.usagePayload();
    if (usage != null) {
      tokens = JsonBodies.inspect(usage).usage();
    }
  }

  private void midStreamFailure(AttemptResult first, AttemptResult source, String cause, String reason, boolean recordFault)
      throws ClientGone {
    source.abandon(); // close the upstream connection before telling the client
    if (recordFault && currentRoute != null && !"shutdown".equals(cause)) {
      currentRoute.breaker.failure(); // a provider fault, even after the commit point
    }
    outcome = Outcome.MIDSTREAM_FAILURE;
    midStreamCause = cause;
    streamTokens(source.scanner);
    log.warn(
        "request {}: stream interrupted after {} data events and {} bytes: {}",
        clientRequest.requestId(),
        source.scanner.dataEvents(),
        bytesOut,
        reason);
    byte[] event = errorEvent(first.scanner.firstDataPayload(), reason);
    try {
      checkNotCancelled();
      sink.onBody(event, 0, event.length);
      bytesOut += event.length;
      sink.flush();
      sink.onComplete();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  /** The final in-band event of a broken stream: OpenAI's chunk shape with an error object. */
  private byte[] errorEvent(byte[] firstPayload, String reason) {
    String id = "relay-" + clientRequest.requestId();
    String model = clientRequest.model();
    long created = System.currentTimeMillis() / 1000;
    if (firstPayload != null) {
      try {
        JsonNode first = Json.MAPPER.readTree(firstPayload);
        id = first.path("id").asText(id);
        model = first.path("model").asText(model);
        created = first.path("created").asLong(created);
      } catch (IOException ignored) {
        // keep the relay's own id
      }
    }
    boolean chat = clientRequest.endpoint() == Endpoint.CHAT_COMPLETIONS;
    ByteArrayOutputStream out = new ByteArrayOutputStream(512);
    try {
      out.write("data: ".getBytes(StandardCharsets.US_ASCII));
      try (JsonGenerator json = Json.FACTORY.createGenerator(out)) {
        json.writeStartObject();
        json.writeStringField("id", id);
        json.writeStringField("object", chat ? "chat.completion.chunk" : "text_completion");
        json.writeNumberField("created", created);
        if (model != null) {
          json.writeStringField("model", model);
        }
        json.writeArrayFieldStart("choices");
        json.writeStartObject();
        json.writeNumberField("index", 0);
        if (chat) {
          json.writeObjectFieldStart("delta");
          json.writeEndObject();
        } else {
          json.writeStringField("text", "");
        }
        json.writeStringField("finish_reason", "error");
        json.writeEndObject();
        json.writeEndArray();
        json.writeObjectFieldStart("error");
        json.writeStringField("message", "The upstream stream was interrupted: " + reason + ". The answer is incomplete.");
        json.writeStringField("type", "proxy_error");
        json.writeNullField("param");
        json.writeStringField("code", "upstream_stream_interrupted");
        json.writeEndObject();
        json.writeEndObject();
      }
      out.write("\n\n".getBytes(StandardCharsets.US_ASCII));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private Map<String, List<String>> clientHeaders(Headers upstreamHeaders, boolean exhausted) {
    Map<String, List<String>> out = HopByHopHeaders.endToEnd(upstreamHeaders, NOT_FORWARDED_DOWN);
    String upstreamId = upstreamHeaders.get("x-request-id");
    if (upstreamId != null) {
      out.put("X-Upstream-Request-Id", List.of(upstreamId));
    }
    out.put("X-Relay-Attempts", List.of(Integer.toString(attempts)));
    Route route = currentRoute;
    if (route != null && routed()) {
      out.put("X-Relay-Upstream", List.of(route.upstream.name()));
      if (route.model != null) {
        out.put("X-Relay-Model", List.of(route.model));
      }
    }
    if (exhausted) {
      out.put("x-should-retry", List.of("false"));
    }
    return out;
  }

  // ---- failures ---------------------------------------------------------------------------

  private void onFailure(Throwable t) {
    Throwable e = t;
    if (e instanceof FailsafeException && e.getCause() != null) {
      e = e.getCause();
    }
    if (e instanceof ClientGone gone) {
      cancel();
      outcome = Outcome.CLIENT_CANCELLED;
      log.debug("request {}: client went away: {}", clientRequest.requestId(), gone.getCause().toString());
      return;
    }
    if (cancelled) {
      outcome = Outcome.CLIENT_CANCELLED;
      return;
    }
    if (aborting && !streamed) {
      failBeforeCommit(new RelayClosedException(), Outcome.REJECTED);
      return;
    }
    if (e instanceof CancellationException || e instanceof InterruptedException) {
      outcome = Outcome.CLIENT_CANCELLED;
      return;
    }
    if (e instanceof AttemptFailure af) {
      String summary = af.getMessage() + " (" + attempts + " of " + maxAttemptsShown() + " attempts)";
      if (af.kind.isTimeout()) {
        failBeforeCommit(new UpstreamTimeoutException("The upstream did not answer in time: " + summary, attempts, af), Outcome.TIMEOUT);
      } else {
        failBeforeCommit(new UpstreamUnreachableException("The upstream could not be reached: " + summary, attempts, af), Outcome.UNREACHABLE);
      }
      return;
    }
    if (e instanceof dev.llmrelay.core.UpstreamCircuitOpenException open) {
      failBeforeCommit(open, attempts <= 1 ? Outcome.REJECTED : Outcome.UPSTREAM_5XX);
      return;
    }
    if (e instanceof UpstreamBadResponseException bad) {
      failBeforeCommit(bad, Outcome.BAD_RESPONSE);
      return;
    }
    if (e instanceof RelayException rex) {
      failBeforeCommit(rex, Outcome.BAD_RESPONSE);
      return;
    }
    log.error("request {}: unexpected failure", clientRequest.requestId(), e);
    if (streamed) {
      outcome = Outcome.MIDSTREAM_FAILURE;
      try {
        sink.onComplete();
      } catch (IOException | RuntimeException ignored) {
        // the response is already committed; nothing more can be said
      }
      return;
    }
    failBeforeCommit(new InternalRelayException(attempts, e), Outcome.BAD_RESPONSE);
  }

  private void failBeforeCommit(RelayException error, Outcome o) {
    outcome = o;
    status = error.status();
    errorCode = error.code();
    if (cancelled) {
      outcome = Outcome.CLIENT_CANCELLED;
      return;
    }
    try {
      sink.onFailure(error);
    } catch (RuntimeException e) {
      log.warn("request {}: the sink failed to render {}", clientRequest.requestId(), error.code(), e);
    }
  }

  private void finish(Outcome finalOutcome, int finalStatus) {
    if (!finished.compareAndSet(false, true)) {
      return;
    }
    ConcurrencyGate.Permit p = permit;
    if (p != null) {
      p.close();
    }
    long totalNanos = System.nanoTime() - startNanos;
    client.exchangeEnded(this);
    ExchangeResult result =
        new ExchangeResult(
            clientRequest.requestId(),
            clientRequest.endpoint().method(),
            clientRequest.endpoint().clientPath(),
            clientRequest.model(),
            clientRequest.streamRequested(),
            finalOutcome,
            finalOutcome == Outcome.CLIENT_CANCELLED && !streamed ? 0 : finalStatus,
            finalOutcome == Outcome.CLIENT_CANCELLED ? null : errorCode,
            trail,
            streamed,
            Duration.ofNanos(queueWaitNanos),
            headersNanos < 0 ? null : Duration.ofNanos(headersNanos),
            streamed && firstEventNanos >= 0 ? Duration.ofNanos(firstEventNanos) : null,
            Duration.ofNanos(totalNanos),
            bytesOut,
            tokens,
            finalOutcome == Outcome.CLIENT_CANCELLED ? phase.metricName : null,
            finalOutcome == Outcome.MIDSTREAM_FAILURE ? midStreamCause : null,
            continuations);
    client.exchangeFinished(result);
    completion.complete(result);
  }

  // ---- helpers ----------------------------------------------------------------------------

  private void checkNotCancelled() {
    if (cancelled) {
      throw new CancellationException();
    }
  }

  private boolean debug() {
    return client.debugMode().enabled();
  }

  /** True when attempt lines are wanted at all, so the hot path builds no arguments otherwise. */
  private boolean attemptLogOn() {
    return debug() || attemptLog.isDebugEnabled();
  }

  private void debugLine(String format, Object... args) {
    if (debug()) {
      attemptLog.info("[" + clientRequest.requestId() + "] " + format, args);
    } else if (attemptLog.isDebugEnabled()) {
      attemptLog.debug("[" + clientRequest.requestId() + "] " + format, args);
    }
  }

  private static Outcome outcomeFor(int code) {
    if (code >= 500) {
      return Outcome.UPSTREAM_5XX;
    }
    if (code >= 400) {
      return Outcome.UPSTREAM_4XX;
    }
    return Outcome.SUCCESS;
  }

  private static boolean isJsonType(Headers headers) {
    String ct = headers.get("Content-Type");
    return ct != null && ct.toLowerCase(Locale.ROOT).contains("json");
  }

  static String seconds(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? (ms / 1000) + "s" : String.format(Locale.ROOT, "%.1fs", ms / 1000.0);
  }

  /**
   * The per-attempt limit on the wait for response headers: cancels the call when it expires,
   * unless {@link #disarm()} came first. Exactly one of the two wins. (Failsafe's {@code Timeout}
   * did this job before; for a synchronous execution it always runs on Failsafe's global scheduler
   * and cancels its timer through {@code CompletableFuture.cancel}, which builds a {@code
   * CancellationException} with a full stack trace for every attempt that did not time out.)
   */
  private static final class HeaderDeadline implements Runnable {
    private static final int ARMED = 0;
    private static final int DISARMED = 1;
    private static final int FIRED = 2;

    private final Call call;
    private final java.util.concurrent.atomic.AtomicInteger state = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.ScheduledFuture<?> task;

    HeaderDeadline(Call call, Duration limit, java.util.concurrent.ScheduledExecutorService scheduler) {
      this.call = call;
      java.util.concurrent.ScheduledFuture<?> t;
      try {
        t = scheduler.schedule(this, limit.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.RejectedExecutionException shutDown) {
        t = null; // the client is closing: close() cancels every call itself
      }
      this.task = t;
    }

    @Override
    public void run() {
      if (state.compareAndSet(ARMED, FIRED)) {
        call.cancel();
      }
    }

    /** Stops the timer; false when it fired first (the call was cancelled for the timeout). */
    boolean disarm() {
      if (state.compareAndSet(ARMED, DISARMED)) {
        if (task != null) {
          task.cancel(false);
        }
        return true;
      }
      return state.get() != FIRED;
    }
  }

  /** Cancels the call when a stream's first data event is late; cancelled at the commit point. */
  private static final class FirstEventDeadline {
    private final java.util.concurrent.ScheduledFuture<?> task;
    private volatile boolean fired;

    FirstEventDeadline(Call call, Duration limit, java.util.concurrent.ScheduledExecutorService scheduler) {
      this.task = scheduler.schedule(() -> {
        fired = true;
        call.cancel();
      }, limit.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
    }

    boolean fired() {
      return fired;
    }

    void cancel() {
      task.cancel(false);
    }
  }

  /** The client went away while the relay wrote to it. */
  static final class ClientGone extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ClientGone(IOException cause) {
      super(cause.toString(), cause, false, false);
    }
  }
}
