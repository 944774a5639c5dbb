package dev.llmrelay.core.internal;

import dev.failsafe.CircuitBreaker;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The circuit breaker of one route: a Failsafe {@link CircuitBreaker}, configured explicitly,
 * plus the two things Failsafe does not offer.
 *
 * <ul>
 *   <li>Two thresholds at once: Failsafe counts the failure rate over the last 20 attempts
 *       ({@code BREAKER_FAILURE_RATE}); this class counts consecutive provider faults ({@code
 *       BREAKER_FAILURES}) and opens the Failsafe breaker itself when they are reached.
 *   <li>A controllable, jittered open time: Failsafe times its open state with {@code
 *       System.nanoTime}; here Failsafe's own delay is effectively infinite and this class moves
 *       the breaker to half-open when the injected {@link Clock} says the (jittered) open time is
 *       over, which makes the state machine testable without sleeping.
 * </ul>
 *
 * <p>Only provider faults count (5xx, timeouts, connect errors, resets, mid-stream failures); a
 * 4xx, a 429 or a client that went away releases a half-open probe without a verdict, so the
 * route is probed again. Thread-safe.
 */
final class RouteBreaker {
  private static final Logger log = LoggerFactory.getLogger("dev.llmrelay.breaker");
  private static final int WINDOW = 20;
  private static final Duration NEVER = Duration.ofDays(3650);

  private final String route;
  private final CircuitBreaker<Object> breaker;
  private final int consecutiveLimit;
  private final Duration openTime;
  private final Clock clock;
  private int consecutive;
  private long openUntilMillis;
  private boolean probeOut;
  private final RouteHints hints;

  RouteBreaker(String route, int consecutiveLimit, int failureRatePercent, Duration openTime, Clock clock) {
    this(route, consecutiveLimit, failureRatePercent, openTime, clock, RouteHints.NONE);
  }

  RouteBreaker(
      String route, int consecutiveLimit, int failureRatePercent, Duration openTime, Clock clock, RouteHints hints) {
    this.hints = hints;
    this.route = route;
    this.consecutiveLimit = consecutiveLimit;
    this.openTime = openTime;
    this.clock = clock;
    int rateThreshold = Math.max(1, (int) Math.ceil(WINDOW * failureRatePercent / 100.0));
    this.breaker =
        CircuitBreaker.builder()
            .withFailureThreshold(rateThreshold, WINDOW)
            .withSuccessThreshold(1)
            .withDelay(NEVER)
            .build();
  }

  /**
   * Asks to send one attempt on this route: true when closed, or half-open with its one probe
   * free (taking it). An open breaker whose time is over becomes half-open here.
   */
  synchronized boolean tryAcquire() {
    if (openElsewhere()) {
      return false; // another instance's breaker for this route is open: keep off it, take no probe
    }
    if (breaker.isOpen() && clock.millis() >= openUntilMillis) {
      breaker.halfOpen();
      probeOut = false;
      log.info("route {} half-open: letting one probe through", route);
    }
    if (breaker.isHalfOpen()) {
      if (probeOut) {
        return false;
      }
      probeOut = true;
      return true;
    }
    return breaker.isClosed();
  }

  /** Like {@link #tryAcquire()} but takes nothing: would an attempt be allowed now? */
  synchronized boolean wouldAllow() {
    if (openElsewhere()) {
      return false;
    }
    if (breaker.isOpen()) {
      return clock.millis() >= openUntilMillis;
    }
    return !breaker.isHalfOpen() || !probeOut;
  }

  /** The attempt succeeded (the upstream answered well). */
  synchronized void success() {
    consecutive = 0;
    boolean wasHalfOpen = breaker.isHalfOpen();
    breaker.recordSuccess();
    probeOut = false;
    if (wasHalfOpen && breaker.isClosed()) {
      log.info("route {} closed: the probe succeeded", route);
    }
  }

  /**
   * A stream reached its first event. Whether it succeeds is known only at its end ({@link
   * #success()} or {@link #failure()}), so the consecutive faults are kept until then; a half-open
   * breaker closes, though (the provider answers again), so that other requests need not wait for
   * a long stream to end.
   */
  synchronized void streamStarted() {
    if (breaker.isHalfOpen()) {
      success();
    }
  }

  /** The attempt failed by a provider fault. */
  synchronized void failure() {
    consecutive++;
    boolean wasOpen = breaker.isOpen();
    breaker.recordFailure();
    probeOut = false;
    if (!breaker.isOpen() && consecutive >= consecutiveLimit) {
      breaker.open();
    }
    if (breaker.isOpen() && !wasOpen) {
      long jitter = (long) (openTime.toMillis() * 0.2 * ThreadLocalRandom.current().nextDouble());
      openUntilMillis = clock.millis() + openTime.toMillis() + jitter;
      log.warn("route {} open for {} ms after {} consecutive faults ({} % of recent attempts failed)",
          route, openTime.toMillis() + jitter, consecutive, breaker.getFailureRate());
      hints.routeOpened(route, Duration.ofMillis(openTime.toMillis() + jitter));
    }
  }

  /** The attempt ended without saying anything about the provider (4xx, 429, client gone). */
  synchronized void neutral() {
    if (breaker.isHalfOpen() && probeOut) {
      probeOut = false; // the probe proved nothing: let the next request probe again
    }
  }

  private boolean openElsewhere() {
    return !hints.openElsewhere(route).isZero() && !breaker.isOpen() && !breaker.isHalfOpen();
  }

  /** The state for health reports: {@code closed}, {@code open} or {@code half_open}. */
  synchronized String state() {
    if (openElsewhere()) {
      return "open";
    }
    if (breaker.isOpen()) {
      return clock.millis() >= openUntilMillis ? "half_open" : "open";
    }
    return breaker.isHalfOpen() ? "half_open" : "closed";
  }

  /** How long until an open breaker lets a probe through (zero when not open). */
  synchronized Duration remainingOpen() {
    Duration local = breaker.isOpen() ? Duration.ofMillis(Math.max(0, openUntilMillis - clock.millis())) : Duration.ZERO;
    Duration elsewhere = openElsewhere() ? hints.openElsewhere(route) : Duration.ZERO;
    return local.compareTo(elsewhere) >= 0 ? local : elsewhere;
  }
}
