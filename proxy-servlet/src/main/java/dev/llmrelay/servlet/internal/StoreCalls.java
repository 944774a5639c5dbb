package dev.llmrelay.servlet.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Where the servlet's calls to the job store run. JDBC blocks (up to the store's query timeout, and
 * a {@code wait=N} submission for up to N seconds), which a pooled platform container thread must
 * never do: so a task runs at once on the calling thread when that is a virtual thread, and
 * otherwise on an executor this object owns, created on first use: a virtual thread per task on
 * Java 21+, else a cached pool of daemon platform threads (a thread per call in progress, as the
 * relay's exchanges have on Java 17). Nothing queues: a slow call ({@code wait=60}) never delays
 * another (a poll, a cancel), and closing drops no waiting task unanswered.
 * {@link #close()} interrupts what still runs (a waiting {@code wait=N} then answers 202) and waits
 * briefly for the threads to end, so a container undeploying the application finds none.
 * Thread-safe.
 */
public final class StoreCalls implements AutoCloseable {
  private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);

  private final ServletThreads platformThreads = new ServletThreads("llmrelay-job-store");
  private ExecutorService executor; // guarded by this
  private boolean closed; // guarded by this

  /** An executor made on first use. */
  public StoreCalls() {}

  /**
   * Runs {@code task} on the calling thread when it is virtual, else on this object's executor.
   *
   * @param task the store work; it answers its request itself
   * @throws RejectedExecutionException when closed
   */
  public void run(Runnable task) {
    if (VirtualThreads.current()) {
      task.run();
    } else {
      executor().execute(task);
    }
  }

  private synchronized ExecutorService executor() {
    if (closed) {
      throw new RejectedExecutionException("the servlet is stopping");
    }
    if (executor == null) {
      executor = newVirtualThreadExecutor();
      if (executor == null) {
        executor = new ThreadPoolExecutor(
            0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS, new java.util.concurrent.SynchronousQueue<>(), platformThreads);
      }
    }
    return executor;
  }

  private static ExecutorService newVirtualThreadExecutor() {
    if (Runtime.version().feature() < 21) {
      return null;
    }
    try {
      return (ExecutorService) MethodHandles.publicLookup()
          .findStatic(java.util.concurrent.Executors.class, "newVirtualThreadPerTaskExecutor",
              MethodType.methodType(ExecutorService.class))
          .invoke();
    } catch (Throwable e) {
      return null;
    }
  }

  @Override
  public void close() {
    ExecutorService e;
    synchronized (this) {
      closed = true;
      e = executor;
    }
    if (e == null) {
      return;
    }
    e.shutdownNow();
    try {
      e.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException interrupted) {
      Thread.currentThread().interrupt();
    }
    platformThreads.awaitEnd(CLOSE_WAIT);
  }
}
