package dev.llmrelay.core.internal;

import dev.llmrelay.core.ConcurrencyLimitException;
import dev.llmrelay.core.QueueFullException;
import dev.llmrelay.core.RelayClosedException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's concurrency limit: {@code MAX_CONCURRENT_REQUESTS} permits, a FIFO queue of at
 * most {@code MAX_QUEUED_REQUESTS} waiters, and a wait of at most {@code MAX_WAIT_SECONDS}.
 *
 * <p>Why not Failsafe's {@code Bulkhead}: its synchronous wait leaks a permit for every waiter
 * that times out (failsafe #393), it releases at response headers rather than at the end of a
 * stream, and it cannot cap the number of waiters. This gate waits without a thread (a waiter is
 * a future plus one scheduled timeout), hands a released permit straight to the oldest waiter,
 * and every waiter leaves the queue exactly once: granted, timed out or cancelled, decided under
 * one lock.
 *
 * <p>Thread-safe.
 */
public final class ConcurrencyGate implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ConcurrencyGate.class);

  private final int maxPermits;
  private final int maxQueued;
  private final Duration maxWait;
  private final Duration retryAfter;
  private final ScheduledExecutorService scheduler;
  private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
  private final ScheduledFuture<?> waitLogTask;
  private int available;
  private boolean closed;

  /**
   * @param maxPermits permits
   * @param maxQueued most waiters at once
   * @param maxWait longest wait (zero = no wait)
   * @param waitLogInterval period of the "still waiting" log line
   * @param scheduler runs timeouts and the log line (must be running while the gate is used)
   */
  public ConcurrencyGate(
      int maxPermits,
      int maxQueued,
      Duration maxWait,
      Duration waitLogInterval,
      ScheduledExecutorService scheduler) {
    this.maxPermits = maxPermits;
    this.maxQueued = maxQueued;
    this.maxWait = maxWait;
    this.available = maxPermits;
    this.scheduler = scheduler;
    // A hint for clients: a quarter of the full wait, between 1 s and 60 s.
    this.retryAfter = Duration.ofSeconds(Math.max(1, Math.min(60, maxWait.toSeconds() / 4)));
    long period = waitLogInterval.toMillis();
    this.waitLogTask = scheduler.scheduleAtFixedRate(this::logWaiters, period, period, TimeUnit.MILLISECONDS);
  }

  /**
   * Asks for a permit. The future completes with a {@link Permit} (possibly at once), or
   * exceptionally with {@link ConcurrencyLimitException} after {@code maxWait} or {@link
   * QueueFullException} at once. Cancelling the future leaves the queue; a permit that races with
   * the cancellation is returned to the gate.
   *
   * @param requestId for the wait log
   */
  public CompletableFuture<Permit> acquire(String requestId) {
    CompletableFuture<Permit> future = new CompletableFuture<>();
    Waiter waiter;
    synchronized (this) {
      if (closed) {
        future.completeExceptionally(new RelayClosedException());
        return future;
      }
      if (available > 0 && waiters.isEmpty()) {
        available--;
        future.complete(new Permit());
        return future;
      }
      if (maxWait.isZero()) {
        waiter = null;
      } else if (waiters.size() >= maxQueued) {
        int queued = waiters.size();
        future.completeExceptionally(new QueueFullException(queued, retryAfter));
        return future;
      } else {
        waiter = new Waiter(future, requestId, System.nanoTime());
        waiters.addLast(waiter);
      }
    }
    if (waiter == null) {
      future.completeExceptionally(new ConcurrencyLimitException(Duration.ZERO, retryAfter));
      return future;
    }
    try {
      waiter.timeoutTask =
          scheduler.schedule(() -> expire(waiter), maxWait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException schedulerStopped) {
      if (leave(waiter)) {
        future.completeExceptionally(new RelayClosedException());
      }
      return future;
    }
    future.whenComplete((permit, error) -> {
      if (future.isCancelled()) {
        leave(waiter);
      }
    });
    return future;
  }

  /**
   * A permit now, or null: never waits and never overtakes a waiter (background work such as a
   * job takes only what interactive requests leave free).
   */
  public synchronized Permit tryAcquire() {
    if (closed || available <= 0 || !waiters.isEmpty()) {
      return null;
    }
    available--;
    return new Permit();
  }

  private void expire(Waiter waiter) {
    if (leave(waiter)) {
      Duration waited = Duration.ofNanos(System.nanoTime() - waiter.enqueuedNanos);
      log.warn(
          "request {} gave up waiting for a permit after {}s ({}/{} active, {} queued)",
          waiter.requestId,
          String.format(java.util.Locale.ROOT, "%.1f", waited.toMillis() / 1000.0),
          maxPermits - availablePermits(),
          maxPermits,
          queued());
      waiter.future.completeExceptionally(new ConcurrencyLimitException(waited, retryAfter));
    }
  }

  /** Removes a waiter that is still queued; true if this call removed it. */
  private boolean leave(Waiter waiter) {
    boolean removed;
    synchronized (this) {
      removed = waiters.remove(waiter);
    }
    if (removed && waiter.timeoutTask != null) {
      waiter.timeoutTask.cancel(false);
    }
    return removed;
  }

  private void release() {
    while (true) {
      Waiter next;
      synchronized (this) {
        next = waiters.pollFirst();
        if (next == null) {
          available++;
          return;
        }
      }
      if (next.timeoutTask != null) {
        next.timeoutTask.cancel(false);
      }
      // The permit passes straight to the oldest waiter; if it was cancelled in the meantime,
      // offer the permit to the next one.
      if (next.future.complete(new Permit())) {
        return;
      }
    }
  }

  /** Free permits now. */
  public synchronized int availablePermits() {
    return available;
  }

  /** Waiters now. */
  public synchronized int queued() {
    return waiters.size();
  }

  /** Permits held now. */
  public int inUse() {
    return maxPermits - availablePermits();
  }

  /** The number of permits. */
  public int maxPermits() {
    return maxPermits;
  }

  private void logWaiters() {
    Waiter oldest;
    int queued;
    int active;
    synchronized (this) {
      oldest = waiters.peekFirst();
      queued = waiters.size();
      active = maxPermits - available;
    }
    if (oldest != null) {
      log.info(
          "waiting for a permit: oldest request {} waited {}s, {}/{} active, {} queued",
          oldest.requestId,
          String.format(java.util.Locale.ROOT, "%.1f", (System.nanoTime() - oldest.enqueuedNanos) / 1e9),
          active,
          maxPermits,
          queued);
    }
  }

  /** Stops the wait log, fails every waiter with {@link RelayClosedException} and takes no new one. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
    }
    waitLogTask.cancel(false);
    while (true) {
      Waiter w;
      synchronized (this) {
        w = waiters.pollFirst();
      }
      if (w == null) {
        return;
      }
      if (w.timeoutTask != null) {
        w.timeoutTask.cancel(false);
      }
      w.future.completeExceptionally(new RelayClosedException());
    }
  }

  private static final class Waiter {
    final CompletableFuture<Permit> future;
    final String requestId;
    final long enqueuedNanos;
    volatile ScheduledFuture<?> timeoutTask;

    Waiter(CompletableFuture<Permit> future, String requestId, long enqueuedNanos) {
      this.future = future;
      this.requestId = requestId;
      this.enqueuedNanos = enqueuedNanos;
    }
  }

  /**
   * One acquired permit. {@link #close()} returns it; it is idempotent, so the permit goes back
   * exactly once however many paths try to release it.
   */
  public final class Permit implements AutoCloseable {
    private final AtomicBoolean released = new AtomicBoolean();

    private Permit() {}

    /** True until closed. */
    public boolean held() {
      return !released.get();
    }

    @Override
    public void close() {
      if (released.compareAndSet(false, true)) {
        release();
      }
    }
  }
}
