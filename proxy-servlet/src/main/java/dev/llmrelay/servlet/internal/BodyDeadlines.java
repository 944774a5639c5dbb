package dev.llmrelay.servlet.internal;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The timer behind the client body deadlines of one servlet ({@code CLIENT_BODY_TIMEOUT_SECONDS}):
 * one daemon thread, started on the first body read and gone after 10 s without deadlines, so a
 * servlet that reads no bodies (or was never initialised) holds no thread. A deadline's task only
 * checks a timestamp, or writes a short 408 response. Cancelled deadlines leave the queue at once.
 * Thread-safe; {@link #close} in the servlet's {@code destroy}: the thread has ended when it returns.
 */
public final class BodyDeadlines implements AutoCloseable {
  private final ScheduledThreadPoolExecutor timer;
  private final ServletThreads threads;

  private BodyDeadlines(ScheduledThreadPoolExecutor timer, ServletThreads threads) {
    this.timer = timer;
    this.threads = threads;
  }

  /** A timer without a thread yet. */
  public static BodyDeadlines create() {
    ServletThreads threads = new ServletThreads("llmrelay-client-body-deadline");
    ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, threads);
    timer.setRemoveOnCancelPolicy(true);
    timer.setKeepAliveTime(10, TimeUnit.SECONDS);
    timer.allowCoreThreadTimeOut(true);
    return new BodyDeadlines(timer, threads);
  }

  /** The scheduler deadlines run on. */
  public ScheduledExecutorService timer() {
    return timer;
  }

  /**
   * Stops the timer and waits (at most 2 s) for its thread to end; pending deadlines no longer
   * fire (the container's timeouts remain).
   */
  @Override
  public void close() {
    timer.shutdownNow();
    threads.awaitEnd(java.time.Duration.ofSeconds(2));
  }

  /** For tests: the timer's threads still alive. */
  int aliveThreads() {
    return threads.alive();
  }
}
