package dev.llmrelay.core.internal;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import okhttp3.Call;

/**
 * Fails a response body that delivers no bytes for the idle timeout, by cancelling its call.
 *
 * <p>Why not OkHttp's {@code readTimeout}: it is one value per call and bounds the wait for
 * headers too, which has its own (longer, per-attempt) limit. This watchdog runs only once
 * headers arrived, costs one volatile write per read, and reschedules itself at most once per idle
 * period. Thread-safe.
 */
public final class IdleWatchdog implements AutoCloseable {
  private final Call call;
  private final long idleNanos;
  private final ScheduledExecutorService scheduler;
  private volatile long lastActivity;
  private volatile boolean fired;
  private volatile boolean closed;
  private volatile boolean paused;
  private volatile ScheduledFuture<?> task;

  /**
   * Starts watching.
   *
   * @param call the call to cancel on expiry
   * @param idleNanos longest silence
   * @param scheduler where the check runs
   */
  public IdleWatchdog(Call call, long idleNanos, ScheduledExecutorService scheduler) {
    this.call = call;
    this.idleNanos = idleNanos;
    this.scheduler = scheduler;
    this.lastActivity = System.nanoTime();
    this.task = scheduler.schedule(this::check, idleNanos, TimeUnit.NANOSECONDS);
  }

  /** Records that bytes arrived. */
  public void touch() {
    lastActivity = System.nanoTime();
  }

  /**
   * Stops counting while the relay writes to its client: a slow client is the container's
   * business, not upstream silence. {@link #resume()} starts a fresh idle period.
   */
  public void pause() {
    paused = true;
  }

  /** Counts again from now. */
  public void resume() {
    lastActivity = System.nanoTime();
    paused = false;
  }

  /** True when the watchdog cancelled the call. */
  public boolean fired() {
    return fired;
  }

  private synchronized void check() {
    if (closed) {
      return;
    }
    long silent = paused ? 0 : System.nanoTime() - lastActivity;
    if (silent >= idleNanos) {
      fired = true;
      call.cancel();
    } else {
      try {
        task = scheduler.schedule(this::check, idleNanos - silent, TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.RejectedExecutionException shutDown) {
        closed = true;
      }
    }
  }

  /** Stops watching; no check runs (or is rescheduled) afterwards. */
  @Override
  public synchronized void close() {
    closed = true;
    ScheduledFuture<?> t = task;
    if (t != null) {
      t.cancel(false);
    }
  }
}
