package dev.llmrelay.core.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llmrelay.core.AttemptRecord;
import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamCircuitOpenException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CancellationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one attempt loop of an exchange: it serves the first response and every continuation of a
 * broken stream, and decides in one place ({@link #judge}, then {@link #plan}) what comes after
 * each attempt: the same route after a backoff, another route at once, or nothing.
 *
 * <p>The rules, the same for every attempt: at most {@code MAX_ATTEMPTS} on a route and {@code
 * MAX_ROUTE_ATTEMPTS} in all; a route whose breaker is open is skipped; a retry must get a place in
 * the retry budget when it is sent (not while it sleeps out its backoff). A timeout or a stall
 * moves to the next route at once (the same route only when there is no other), because waiting on
 * the same silent model again is wasted time; a 5xx, 429, refused connection, cut or reset retries
 * the same route first, after a backoff that honours {@code Retry-After}. A route that refuses a
 * continuation (HTTP 400) or starts the answer over is never asked again for it.
 *
 * <p>Why not Failsafe's {@code RetryPolicy} as the engine: it decides one thing, "retry this
 * supplier or not, after which delay", for one target. Here each decision also chooses the route
 * (same, next, next with another model), depends on per-route breakers, a per-route attempt cap
 * and a shared budget, and the same loop must serve continuations, which are not retries of one
 * supplier. Driving this through a {@code RetryPolicy} needed flags set inside the attempt for the
 * policy to read back, which is where the defects of the old exchange hid. The policies Failsafe
 * does serve here well stay Failsafe's (each route's {@code CircuitBreaker}); backoff and {@code
 * Retry-After} follow DESIGN's rules in {@link Backoff} and {@link RetryAfter}.
 *
 * <p>Not thread-safe: one per exchange, used by the exchange's thread only.
 */
final class AttemptLoop {
  private static final Logger log = LoggerFactory.getLogger(RealExchange.class);
  private static final byte[] CONTEXT_LENGTH = "context_length_exceeded".getBytes(StandardCharsets.US_ASCII);

  /** Why the loop made no further attempt although the last one failed (see ExchangeResult#stopReason). */
  static final String ATTEMPTS_EXHAUSTED = "attempts_exhausted";
  static final String RETRY_BUDGET = "retry_budget";
  static final String RETRY_AFTER_TOO_LONG = "retry_after_too_long";
  static final String NO_ROUTE = "no_route";
  static final String CIRCUIT_OPEN = "circuit_open";

  /** What an attempt is for. */
  enum Purpose {
    /** The response to the client request. */
    FIRST,
    /** The rest of a broken stream, asked for with the text sent so far as a prefill. */
    CONTINUATION
  }

  /** What comes after a failed attempt, before the limits are applied. */
  enum Move {
    /** The same route after a backoff (5xx, 429, connect errors, cuts, resets). */
    SAME_ROUTE,
    /** The next route now; the same one only when there is no other (timeouts, stalls). */
    NEXT_ROUTE,
    /** Another route or nothing (the route refused this request or cannot serve it). */
    OTHER_ROUTE,
    /** The next route with another model (the model cannot take this request). */
    OTHER_MODEL,
    /** Nothing: the outcome is final. */
    STOP
  }

  private final RealUpstreamClient client;
  private final RelayConfig config;
  private final ClientRequest clientRequest;
  private final ExchangeControl control;
  private final UpstreamRequests requests;
  private final AttemptLog attemptLog;
  private final List<Route> routes;
  private final boolean routed;

  private final List<AttemptRecord> trail = new ArrayList<>(2);
  private int attempts;
  private int routeIndex;
  private int attemptsOnRoute;
  private Route current;
  private String stopReason;
  private String lastReason = "";
  private long headersNanos = -1;
  private long firstEventNanos = -1;

  AttemptLoop(RealUpstreamClient client, ClientRequest clientRequest, ExchangeControl control, AttemptLog attemptLog) {
    this.client = client;
    this.config = client.config();
    this.clientRequest = clientRequest;
    this.control = control;
    this.attemptLog = attemptLog;
    this.requests = new UpstreamRequests(clientRequest);
    Router router = client.router();
    List<Route> planned = router.routesFor(router.modelChain(clientRequest.model(), clientRequest.models()));
    // No upstream serves any model of the chain: send it, unchanged, to the primary.
    this.routes = planned.isEmpty() ? router.routesFor(Collections.singletonList(null)) : planned;
    this.routed = router.routingActive() || !clientRequest.models().isEmpty();
  }

  /** The response to the client request: a stream at its commit point, an answer, or the last failure. */
  AttemptOutcome first() {
    return run(Purpose.FIRST, null, null, null, null);
  }

  /**
   * Asks the routes for the rest of a stream that broke with {@code broke}, within the same limits
   * as every other attempt: a verified continuation ({@link AttemptOutcome.Streaming}), or the last
   * failure or null when no route could continue it. Each failed try is added to {@code results}.
   */
  AttemptOutcome continuation(AttemptFailure broke, ObjectNode prefilled, ChatStreamState chat, List<String> results) {
    current.breaker.failure(); // a provider fault, even after the commit point
    lastReason = broke.kind.reason;
    return run(Purpose.CONTINUATION, moveAfter(broke.kind, Purpose.CONTINUATION), prefilled, chat, results);
  }

  private AttemptOutcome run(
      Purpose purpose, Move firstMove, ObjectNode prefilled, ChatStreamState chat, List<String> results) {
    Move move = firstMove;
    AttemptOutcome last = null;
    while (true) {
      if (move != null) {
        Duration delay = plan(move, last instanceof AttemptOutcome.Answer a ? a.retryAfter() : null, purpose);
        if (delay == null) {
          return last;
        }
        if (!delay.isZero()) {
          control.phase(ExchangeControl.Phase.BACKOFF);
          client.recorder().retry();
          if (attemptLog.on()) {
            attemptLog.line("retrying in {}s after {}", String.format(java.util.Locale.ROOT, "%.1f", delay.toMillis() / 1000.0),
                lastReason);
          }
          control.sleep(delay);
        } else if (attempts > 0) {
          client.recorder().retry();
          attemptLog.line("retrying at once after {} on {}", lastReason, routes.get(routeIndex).name());
        }
      }
      control.checkNotStopped();
      boolean retry = attempts > 0;
      if (retry && !client.retryBudget().tryAcquire()) {
        stopReason = RETRY_BUDGET;
        log.info("request {}: retry budget spent ({} retries in flight upstream); not retrying after {}",
            clientRequest.requestId(), client.retryBudget().inFlight(), lastReason);
        return last;
      }
      AttemptOutcome outcome;
      try {
        Route route;
        try {
          route = acquireRoute(purpose);
        } catch (UpstreamCircuitOpenException open) {
          stopReason = CIRCUIT_OPEN;
          if (purpose == Purpose.FIRST) {
            throw open;
          }
          return last;
        }
        outcome = attempt(route, purpose, prefilled, chat);
      } finally {
        if (retry) {
          client.retryBudget().release();
        }
      }
      move = judge(outcome, purpose, results);
      if (move == Move.STOP) {
        stopReason = null;
        return outcome;
      }
      last = outcome;
    }
  }

  /** Sends one attempt on {@code route} and reads it as far as the relay can judge it. */
  private AttemptOutcome attempt(Route route, Purpose purpose, ObjectNode prefilled, ChatStreamState chat) {
    attempts++;
    attemptsOnRoute++;
    current = route;
    control.phase(ExchangeControl.Phase.WAITING_HEADERS);
    Duration configured = attempts == 1 ? config.attemptTimeout() : config.retryTimeout();
    Duration timeout = config.adaptiveTimeouts() ? route.adaptive.limit(configured) : configured;
    if (attemptLog.on()) {
      attemptLog.line("attempt {}/{} to upstream{} [timeout {}]{}", attempts, maxAttemptsShown(), routeSuffix(route),
          Durations.seconds(timeout), purpose == Purpose.CONTINUATION ? " (continuation)" : "");
    }
    UpstreamAttempt attempt = new UpstreamAttempt(client, control);
    AttemptOutcome outcome;
    try {
      outcome = attempt.execute(
          purpose == Purpose.FIRST ? requests.forRoute(route) : requests.continuation(route, prefilled), timeout);
      if (purpose == Purpose.CONTINUATION && outcome instanceof AttemptOutcome.Streaming s) {
        outcome = new ContinuationProbe(control, config, chat).verify(s);
      }
    } catch (CancellationException stopped) {
      record("cancelled", attempt.startNanos(), route);
      route.breaker.neutral();
      throw stopped;
    }
    headersNanos = attempt.headersNanos();
    firstEventNanos = attempt.firstEventNanos();
    record(resultName(outcome), attempt.startNanos(), route);
    return outcome;
  }

  /**
   * Reads an attempt's outcome: tells the route's breaker and the adaptive timeout, logs it, and
   * says what should come next.
   */
  private Move judge(AttemptOutcome outcome, Purpose purpose, List<String> results) {
    Route route = current;
    if (outcome instanceof AttemptOutcome.Streaming) {
      route.breaker.streamStarted(); // success or failure is recorded when the stream ends
      route.adaptive.record(Duration.ofNanos(headersNanos));
      if (attempts > 1 || attemptLog.on()) {
        attemptLog.line("success on attempt {}/{} (stream{})", attempts, maxAttemptsShown(), routeSuffix(route));
      }
      return Move.STOP;
    }
    if (outcome instanceof AttemptOutcome.Answer a) {
      int code = a.status();
      if (code >= 500) {
        route.breaker.failure();
      } else if (code >= 400) {
        route.breaker.neutral(); // 4xx and 429 say nothing about the provider's health
      } else {
        route.breaker.success();
        route.adaptive.record(Duration.ofNanos(headersNanos));
      }
      if (purpose == Purpose.CONTINUATION) {
        lastReason = code == 400 ? "prefill_rejected" : "HTTP " + code;
        results.add(code == 400 ? "prefill_rejected" : "failed");
        log.info("request {}: {} {} the continuation (HTTP {})", clientRequest.requestId(), route.name(),
            code == 400 ? "refused" : "failed", code);
        return code != 400 && a.retryableStatus() ? Move.SAME_ROUTE : Move.OTHER_ROUTE;
      }
      if (a.retryableStatus()) {
        lastReason = "HTTP " + code;
        attemptLog.line("HTTP {} on attempt {}/{}{}", code, attempts, maxAttemptsShown(), routeSuffix(route));
        return Move.SAME_ROUTE;
      }
      if (code == 400 && contains(a.body(), CONTEXT_LENGTH)) {
        lastReason = "context_length_exceeded";
        return Move.OTHER_MODEL;
      }
      if (attempts > 1 || attemptLog.on()) {
        if (code < 400) {
          attemptLog.line("success on attempt {}/{} (HTTP {}{})", attempts, maxAttemptsShown(), code, routeSuffix(route));
        } else {
          attemptLog.line("HTTP {} on attempt {}/{}{}: not retried", code, attempts, maxAttemptsShown(), routeSuffix(route));
        }
      }
      return Move.STOP;
    }
    AttemptFailure f = ((AttemptOutcome.Failed) outcome).failure();
    if (f.kind == AttemptFailure.Kind.RESTARTED) {
      route.breaker.neutral(); // it answered; it just cannot continue
    } else {
      route.breaker.failure();
    }
    lastReason = f.kind.reason;
    attemptLog.line("{} on attempt {}/{}{}: {}", f.kind.reason, attempts, maxAttemptsShown(), routeSuffix(route), f.getMessage());
    if (purpose == Purpose.CONTINUATION) {
      results.add(f.kind == AttemptFailure.Kind.RESTARTED ? "restarted" : "failed");
      if (f.kind == AttemptFailure.Kind.RESTARTED) {
        log.info("request {}: {} started the answer over instead of continuing it; trying the next route",
            clientRequest.requestId(), route.name());
      }
    }
    return moveAfter(f.kind, purpose);
  }

  /** The move after a failure of this kind (a break after the commit point included). */
  private static Move moveAfter(AttemptFailure.Kind kind, Purpose purpose) {
    if (kind.isTimeout()) {
      return Move.NEXT_ROUTE;
    }
    switch (kind) {
      case RESTARTED:
        return Move.OTHER_ROUTE;
      case BAD_RESPONSE:
        return purpose == Purpose.FIRST ? Move.STOP : Move.OTHER_ROUTE;
      default:
        return Move.SAME_ROUTE;
    }
  }

  /**
   * Applies the limits to a move: where the next attempt goes, and after which delay; null (with
   * {@link #stopReason} set) when there is no next attempt.
   */
  private Duration plan(Move move, Duration retryAfter, Purpose purpose) {
    control.checkNotStopped();
    if (attempts >= config.maxRouteAttempts()) {
      stopReason = ATTEMPTS_EXHAUSTED;
      return null;
    }
    boolean waitable = retryAfter == null || retryAfter.compareTo(config.retryAfterMax()) <= 0;
    boolean roomHere = attemptsOnRoute < config.maxAttempts() && allows(routes.get(routeIndex), purpose);
    int next;
    boolean same = false;
    switch (move) {
      case SAME_ROUTE:
        same = roomHere && waitable;
        next = same ? routeIndex : nextAllowed(routeIndex + 1, null, purpose);
        break;
      case NEXT_ROUTE:
        next = nextAllowed(routeIndex + 1, null, purpose);
        if (next < 0 && roomHere) {
          next = routeIndex; // a single route: a timeout is retried on it, as DESIGN.md §2 says
          same = true;
        }
        break;
      case OTHER_ROUTE:
        next = nextAllowed(routeIndex + 1, null, purpose);
        break;
      case OTHER_MODEL:
        next = nextAllowed(routeIndex + 1, routes.get(routeIndex).model, purpose);
        break;
      default:
        next = -1;
    }
    if (next < 0) {
      boolean spent = attemptsOnRoute >= config.maxAttempts() && (move == Move.SAME_ROUTE || move == Move.NEXT_ROUTE);
      stopReason = spent ? ATTEMPTS_EXHAUSTED : !waitable ? RETRY_AFTER_TOO_LONG
          : move == Move.SAME_ROUTE || move == Move.NEXT_ROUTE ? ATTEMPTS_EXHAUSTED : NO_ROUTE;
      if (!waitable) {
        attemptLog.line("Retry-After {} is above RETRY_AFTER_MAX_SECONDS: returned", Durations.seconds(retryAfter));
      }
      return null;
    }
    if (same) {
      return client.backoff().delay(attemptsOnRoute, retryAfter);
    }
    routeIndex = next;
    attemptsOnRoute = 0;
    return Duration.ZERO; // another route: no reason to wait
  }

  /** The first route from {@code from} whose breaker would let a request through and whose model differs from {@code notModel}. */
  private int nextAllowed(int from, String notModel, Purpose purpose) {
    for (int i = from; i < routes.size(); i++) {
      Route r = routes.get(i);
      if (notModel != null && notModel.equals(r.model)) {
        continue;
      }
      if (allows(r, purpose) && r.breaker.wouldAllow()) {
        return i;
      }
    }
    return -1;
  }

  /** Whether {@code route} may be sent an attempt of this purpose (continuation can be off per upstream). */
  private static boolean allows(Route route, Purpose purpose) {
    return purpose == Purpose.FIRST || route.upstream.config.streamContinuation();
  }

  /** The route for this attempt: the planned one, or the next whose breaker lets it through. */
  private Route acquireRoute(Purpose purpose) {
    for (int i = routeIndex; i < routes.size(); i++) {
      Route r = routes.get(i);
      if (allows(r, purpose) && r.breaker.tryAcquire()) {
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
    throw new UpstreamCircuitOpenException(open.toString(), soonest == null ? Duration.ofSeconds(1) : soonest, attempts);
  }

  private static String resultName(AttemptOutcome outcome) {
    if (outcome instanceof AttemptOutcome.Answer a) {
      return Integer.toString(a.status());
    }
    if (outcome instanceof AttemptOutcome.Streaming s) {
      return Integer.toString(s.status());
    }
    return ((AttemptOutcome.Failed) outcome).failure().kind.reason;
  }

  /** Adds an attempt to the trail, naming its route only when the request is routed. */
  private void record(String result, long startedNanos, Route route) {
    trail.add(new AttemptRecord(attempts, result, Duration.ofNanos(System.nanoTime() - startedNanos),
        routed ? route.upstream.name() : null, routed ? route.model : null));
  }

  private static boolean contains(byte[] body, byte[] needle) {
    outer:
    for (int i = 0; i <= body.length - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (body[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  int maxAttemptsShown() {
    return routes.size() > 1 ? config.maxRouteAttempts() : Math.min(config.maxAttempts(), config.maxRouteAttempts());
  }

  private String routeSuffix(Route route) {
    return route == null || !routed ? "" : " via " + route.name();
  }

  // ---- what the exchange reads once the loop returned --------------------------------------

  List<AttemptRecord> trail() {
    return trail;
  }

  int attempts() {
    return attempts;
  }

  /** The route of the last attempt (null before the first). */
  Route current() {
    return current;
  }

  boolean routed() {
    return routed;
  }

  String stopReason() {
    return stopReason;
  }

  /** The last attempt's time to headers (-1 when none arrived). */
  long headersNanos() {
    return headersNanos;
  }

  long firstEventNanos() {
    return firstEventNanos;
  }

  UpstreamRequests requests() {
    return requests;
  }
}
