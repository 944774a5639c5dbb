package dev.llmrelay.servlet.internal;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * The daemon threads of one servlet's timer, remembered so that the servlet's {@code destroy}
 * returns only once they have ended: an executor's {@code awaitTermination} can return while its
 * worker is still on its way out, and a container that stops the web application next checks
 * {@link Thread#isAlive()} (Tomcat warns about every live thread started from the application).
 * Thread-safe.
 */
final class ServletThreads implements ThreadFactory {
  private final String name;
  /** Threads made and perhaps still alive; the dead are dropped whenever a thread is made. */
  private final Set<Thread> threads = ConcurrentHashMap.newKeySet();

  ServletThreads(String name) {
    this.name = name;
  }

  @Override
  public Thread newThread(Runnable task) {
    threads.removeIf(t -> t.getState() == Thread.State.TERMINATED);
    Thread thread = new Thread(task, name);
    thread.setDaemon(true);
    threads.add(thread);
    return thread;
  }

  /** Waits at most {@code timeout} in all for every thread made here to end. */
  void awaitEnd(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (Thread t : threads) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return;
      }
      try {
        t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Threads made here that are still alive (for tests). */
  int alive() {
    return (int) threads.stream().filter(Thread::isAlive).count();
  }
}
