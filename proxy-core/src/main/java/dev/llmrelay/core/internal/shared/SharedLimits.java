package dev.llmrelay.core.internal.shared;

import dev.llmrelay.core.ConcurrencyLimitException;
import dev.llmrelay.core.shared.FailureMode;
import dev.llmrelay.core.shared.SharedState;
import dev.llmrelay.core.shared.SharedStateConfig;
import dev.llmrelay.core.shared.SharedStateUnavailableException;
import dev.llmrelay.core.shared.SharedStats;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This instance's side of the shared limits: takes a global lease for each request after its
 * local permit (asking again on the scheduler until the request's wait budget ends, so waiting
 * holds no thread), renews it at a third of its lease while the request runs, and releases it
 * once; publishes breaker openings and keeps a local copy of the routes others reported open.
 *
 * <p>While the engine does not answer: {@link FailureMode#OPEN} lets requests through under the
 * local limit alone, {@link FailureMode#CLOSED} refuses them with 503 {@code
 * shared_state_unavailable}. One log line per change of state. Thread-safe.
 */
public final class SharedLimits implements AutoCloseable, dev.llmrelay.core.internal.RouteHints {
  private static final Logger log = LoggerFactory.getLogger("dev.llmrelay.shared");
  private static final long FIRST_RETRY_MILLIS = 20;
  private static final long MAX_RETRY_MILLIS = 250;
  static final Duration HINT_POLL = Duration.ofMillis(250);
  private static final long FIRST_CALL_MILLIS = 5_000;

  private final SharedState state;
  private final SharedStateConfig config;
  private final ScheduledExecutorService scheduler;
  private final Duration retryAfter;
  private final AtomicBoolean up = new AtomicBoolean(true);
  private final AtomicLong errors = new AtomicLong();
  private final AtomicLong leasesLost = new AtomicLong();
  private final AtomicInteger held = new AtomicInteger();
  private final AtomicLong sequence = new AtomicLong();
  /** Routes other instances reported open: name to the end (nanoTime). */
  private final Map<String, Long> openRoutes = new ConcurrentHashMap<>();
  /** Hints this instance published, so that reading them back does not count them as others'. */
  private final Map<String, Long> ownHints = new ConcurrentHashMap<>();
  private final ScheduledFuture<?> hintPoll;
  private volatile boolean closed;
  /** Set once the first call (the first hint poll) has ended. */
  private volatile boolean connected;

  public SharedLimits(SharedState state, SharedStateConfig config, ScheduledExecutorService scheduler, Duration maxWait) {
    this.state = state;
    this.config = config;
    this.scheduler = scheduler;
    this.retryAfter = Duration.ofSeconds(Math.max(1, Math.min(60, maxWait.toSeconds() / 4)));
    long poll = HINT_POLL.toMillis();
    this.hintPoll = scheduler.scheduleWithFixedDelay(this::pollHints, 0, poll, TimeUnit.MILLISECONDS);
  }

  /** One request's global permit. {@link #release()} gives it back once, however often called. */
  public final class Lease {
    private final String id;
    private final boolean global;
    private final AtomicBoolean released = new AtomicBoolean();
    private volatile ScheduledFuture<?> renewal;

    private Lease(String id, boolean global) {
      this.id = id;
      this.global = global;
    }

    /** False when the engine was down and the request runs under the local limit alone. */
    public boolean global() {
      return global;
    }

    private void startRenewing() {
      long every = Math.max(50, config.lease().toMillis() / 3);
      try {
        renewal = scheduler.scheduleWithFixedDelay(this::renew, every, every, TimeUnit.MILLISECONDS);
        if (released.get()) {
          renewal.cancel(false); // released while the renewal was being scheduled
        }
      } catch (RejectedExecutionException closing) {
        // the client is closing; the request ends soon
      }
    }

    private void renew() {
      if (released.get()) {
        return;
      }
      call(state.renew(id, config.lease())).whenComplete((kept, error) -> {
        if (error == null && !kept && !released.get()) {
          leasesLost.incrementAndGet();
          log.warn("shared permit {} lapsed while its request ran (the engine was unreachable for longer than"
              + " SHARED_PERMIT_LEASE_SECONDS); the global cap may be exceeded until it ends", id);
        }
      });
    }

    /** Gives the permit back: exactly once; never waits. */
    public void release() {
      if (!released.compareAndSet(false, true)) {
        return;
      }
      ScheduledFuture<?> r = renewal;
      if (r != null) {
        r.cancel(false);
      }
      if (global) {
        held.decrementAndGet();
        call(state.release(id)); // an error is counted; the lease lapses on its own
      }
    }
  }

  /**
   * Asks for a global permit until {@code deadlineNanos} (a {@link System#nanoTime()} value).
   * Completes with a lease, or exceptionally with {@link ConcurrencyLimitException} (the budget
   * ended) or {@link SharedStateUnavailableException} (engine down, closed mode). Cancelling the
   * future stops asking; a permit granted meanwhile is given back.
   */
  public CompletableFuture<Lease> acquire(String requestId, long deadlineNanos, long startNanos) {
    CompletableFuture<Lease> result = new CompletableFuture<>();
    String id = config.instanceId() + ":" + requestId + ":" + sequence.incrementAndGet();
    attempt(result, id, deadlineNanos, startNanos, FIRST_RETRY_MILLIS);
    return result;
  }

  private void attempt(CompletableFuture<Lease> result, String id, long deadlineNanos, long startNanos, long delay) {
    if (result.isDone() || closed) {
      if (!result.isDone()) {
        result.complete(new Lease(id, false));
      }
      return;
    }
    call(state.tryAcquire(id, config.maxConcurrentRequests(), config.lease())).whenComplete((granted, error) -> {
      if (error != null) {
        // The engine may still grant it after the timeout: give back whatever it grants late
        // (releasing an unknown id does nothing), or the permit stays taken for a whole lease.
        call(state.release(id));
        if (config.failureMode() == FailureMode.OPEN) {
          result.complete(new Lease(id, false));
        } else {
          result.completeExceptionally(new SharedStateUnavailableException(retryAfter));
        }
        return;
      }
      if (granted) {
        Lease lease = new Lease(id, true);
        held.incrementAndGet();
        if (result.complete(lease)) {
          lease.startRenewing();
        } else {
          lease.release(); // cancelled meanwhile
        }
        return;
      }
      long now = System.nanoTime();
      if (now - deadlineNanos >= 0) {
        result.completeExceptionally(new ConcurrencyLimitException(Duration.ofNanos(now - startNanos), retryAfter, "SHARED_MAX_CONCURRENT_REQUESTS"));
        return;
      }
      long jittered = delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
      long wait = Math.min(jittered, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - now) + 1);
      try {
        scheduler.schedule(
            () -> attempt(result, id, deadlineNanos, startNanos, Math.min(MAX_RETRY_MILLIS, delay * 2)),
            wait, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException closing) {
        result.complete(new Lease(id, false));
      }
    });
  }

  /** A route's breaker opened here: the other instances keep off it for {@code openFor}. */
  @Override
  public void routeOpened(String route, Duration openFor) {
    ownHints.merge(route, System.nanoTime() + openFor.toNanos(), Math::max);
    call(state.publishOpenRoute(route, openFor));
  }

  /** How long another instance said {@code route} stays open; zero when it did not. */
  @Override
  public Duration openElsewhere(String route) {
    Long until = openRoutes.get(route);
    if (until == null) {
      return Duration.ZERO;
    }
    long left = until - System.nanoTime();
    if (left <= 0) {
      openRoutes.remove(route, until);
      return Duration.ZERO;
    }
    return Duration.ofNanos(left);
  }

  private void pollHints() {
    // The first call opens the engine connection (and may create its tables): it gets longer
    // than one call's timeout, so that a normal start is not reported as an outage.
    call(state.openRoutes()).whenComplete((open, error) -> {
      if (error != null) {
        return;
      }
      long now = System.nanoTime();
      long slack = TimeUnit.MILLISECONDS.toNanos(100) + config.timeout().toNanos();
      open.forEach((route, left) -> {
        long until = now + left.toNanos();
        Long own = ownHints.get(route);
        if (own != null && own - now <= 0) {
          ownHints.remove(route, own);
        } else if (own != null && until - own <= slack) {
          return; // our own hint, read back
        }
        openRoutes.merge(route, until, Math::max);
      });
    });
  }

  /** One engine call under the timeout, counted and logged on a change of state. */
  private <T> CompletableFuture<T> call(java.util.concurrent.CompletionStage<T> stage) {
    // Until the engine first answered (or failed), calls wait behind the one that opens the
    // connection (and may create the tables): they get longer than one call's timeout, so that
    // neither a normal start is reported as an outage nor the first requests run past the cap.
    long timeout = connected ? config.timeout().toMillis() : Math.max(config.timeout().toMillis(), FIRST_CALL_MILLIS);
    return call(stage, timeout).whenComplete((v, error) -> connected = true);
  }

  private <T> CompletableFuture<T> call(java.util.concurrent.CompletionStage<T> stage, long timeoutMillis) {
    // A copy times out, never the engine's own future: the engine's work still runs (a release
    // queued behind a slow call is not dropped) and its late answer is simply not waited for.
    return stage.toCompletableFuture()
        .copy()
        .orTimeout(timeoutMillis, TimeUnit.MILLISECONDS)
        .whenComplete((v, error) -> {
          if (error == null) {
            if (up.compareAndSet(false, true)) {
              log.info("shared state answers again: the global limit {} applies", config.maxConcurrentRequests());
            }
          } else {
            errors.incrementAndGet();
            if (up.compareAndSet(true, false)) {
              log.warn("shared state failing ({}): {}", describe(error),
                  config.failureMode() == FailureMode.OPEN
                      ? "continuing under this instance's own limits"
                      : "refusing requests with 503 shared_state_unavailable");
            }
          }
        });
  }

  private static String describe(Throwable error) {
    Throwable e = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
    if (e instanceof java.util.concurrent.TimeoutException) {
      return "no answer in time";
    }
    String m = e.getMessage();
    return e.getClass().getSimpleName() + (m == null ? "" : ": " + (m.length() > 200 ? m.substring(0, 200) : m));
  }

  /** {@return counters for metrics} */
  public SharedStats stats() {
    return new SharedStats(held.get(), up.get(), errors.get(), leasesLost.get(), config.maxConcurrentRequests());
  }

  @Override
  public void close() {
    closed = true;
    hintPoll.cancel(false);
    state.close();
  }
}
