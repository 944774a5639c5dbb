package dev.llmrelay.servlet.internal;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The timer behind the client body deadlines of one servlet ({@code CLIENT_BODY_TIMEOUT_SECONDS}):
 * one daemon thread, started on the first body read and gone after 10 s without deadlines, so a
 * servlet that reads no bodies (or was never initialised) holds no thread. A deadline's task only
 * checks a timestamp, or writes a short 408 response. Cancelled deadlines leave the queue at once.
 * Thread-safe; {@link #close} in the servlet's {@code destroy}.
 */
public final class BodyDeadlines implements AutoCloseable {
  private final ScheduledThreadPoolExecutor timer;

  private BodyDeadlines(ScheduledThreadPoolExecutor timer) {
    this.timer = timer;
  }

  /** A timer without a thread yet. */
  public static BodyDeadlines create() {
    ScheduledThreadPoolExecutor timer =
        new ScheduledThreadPoolExecutor(1, task -> {
          Thread thread = new Thread(task, "llmrelay-client-body-deadline");
          thread.setDaemon(true);
          return thread;
        });
    timer.setRemoveOnCancelPolicy(true);
    timer.setKeepAliveTime(10, TimeUnit.SECONDS);
    timer.allowCoreThreadTimeOut(true);
    return new BodyDeadlines(timer);
  }

  /** The scheduler deadlines run on. */
  public ScheduledExecutorService timer() {
    return timer;
  }

  /** Stops the timer; pending deadlines no longer fire (the container's timeouts remain). */
  @Override
  public void close() {
    timer.shutdownNow();
  }
}
