package dev.llmrelay.core.internal;

import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Thread pools of the relay. Exchanges block (OkHttp's synchronous calls, writes to the client),
 * so on Java 21+ each runs on its own virtual thread; Java 17 falls back to a cached pool of
 * daemon platform threads, whose size the permit count bounds. Reflection keeps the Java 17
 * baseline compiling while using virtual threads where the runtime has them.
 *
 * <p>Every thread made here is a daemon and has the system class loader as its context class
 * loader, not the creating thread's. Why: a thread inherits its creator's context class loader,
 * and libraries start process-wide threads of their own from whatever thread first needs one:
 * Okio's "Okio Watchdog" (started by the first read or write under a timeout or deadline, which
 * OkHttp sets when it drains a response body on close, and which no API can stop; it ends after 60
 * s without timeouts). Created from a thread of a webapp, such a thread keeps the webapp's class
 * loader alive and makes Tomcat warn on undeploy. Our own threads end when their owner closes
 * ({@link Owner}); what they inherit must not pin anything either.
 */
public final class Threads {
  private Threads() {}

  /** True when this runtime has virtual threads (Java 21+). */
  public static boolean virtualThreadsAvailable() {
    return Runtime.version().feature() >= 21;
  }

  /**
   * One thread per task: virtual on Java 21+, else cached daemon platform threads.
   *
   * @param namePrefix thread name prefix, e.g. {@code llmrelay-exchange-}
   */
  public static ExecutorService newPerTaskExecutor(String namePrefix) {
    return newPerTaskExecutor(namePrefix, daemonFactory(namePrefix));
  }

  /**
   * One thread per task: virtual on Java 21+, else platform threads from {@code platformThreads}
   * (a cached pool).
   *
   * @param namePrefix the virtual threads' name prefix
   * @param platformThreads makes the platform threads on Java 17
   */
  public static ExecutorService newPerTaskExecutor(String namePrefix, ThreadFactory platformThreads) {
    if (virtualThreadsAvailable()) {
      try {
        Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
        Class<?> ofVirtual = Class.forName("java.lang.Thread$Builder$OfVirtual");
        builder = ofVirtual.getMethod("name", String.class, long.class).invoke(builder, namePrefix, 0L);
        Method factory = Class.forName("java.lang.Thread$Builder").getMethod("factory");
        ThreadFactory virtualThreads = (ThreadFactory) factory.invoke(builder);
        ThreadFactory neutral = task -> {
          Thread t = virtualThreads.newThread(task);
          t.setContextClassLoader(neutralContextLoader());
          return t;
        };
        return (ExecutorService)
            Executors.class
                .getMethod("newThreadPerTaskExecutor", ThreadFactory.class)
                .invoke(null, neutral);
      } catch (ReflectiveOperationException | RuntimeException e) {
        // Fall through to platform threads: a runtime that reports 21+ but lacks the API.
      }
    }
    return Executors.newCachedThreadPool(platformThreads);
  }

  /** A single-threaded daemon scheduler whose cancelled tasks leave its queue at once. */
  public static ScheduledThreadPoolExecutor newScheduler(String name) {
    return newScheduler(daemonFactory(name));
  }

  /** A single-threaded scheduler on {@code threads} whose cancelled tasks leave its queue at once. */
  public static ScheduledThreadPoolExecutor newScheduler(ThreadFactory threads) {
    ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1, threads);
    scheduler.setRemoveOnCancelPolicy(true);
    scheduler.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    return scheduler;
  }

  /** Daemon platform threads named {@code prefix + n}, with the system class loader as context loader. */
  public static ThreadFactory daemonFactory(String prefix) {
    AtomicLong n = new AtomicLong();
    return r -> {
      Thread t = new Thread(r, prefix + n.getAndIncrement());
      t.setDaemon(true);
      t.setContextClassLoader(neutralContextLoader());
      return t;
    };
  }

  /** The context class loader of every thread made here: one that outlives any webapp. */
  static ClassLoader neutralContextLoader() {
    return ClassLoader.getSystemClassLoader();
  }

  /**
   * The platform threads of one owner (an upstream client), so that it can wait for them to end
   * when it closes: its executors' {@code awaitTermination} can return while a worker thread is
   * still on its way out, and a container checks {@link Thread#isAlive()}. Thread-safe.
   */
  public static final class Owner {
    /** Threads made and perhaps still alive; the dead are dropped whenever a thread is made. */
    private final Set<Thread> threads = ConcurrentHashMap.newKeySet();

    /** Daemon threads named {@code prefix + n} like {@link #daemonFactory}, remembered by this owner. */
    public ThreadFactory factory(String prefix) {
      ThreadFactory daemons = daemonFactory(prefix);
      return r -> {
        threads.removeIf(t -> t.getState() == Thread.State.TERMINATED);
        Thread t = daemons.newThread(r);
        threads.add(t);
        return t;
      };
    }

    /**
     * Waits for every thread of this owner to end, at most {@code timeout} in all.
     *
     * @return the threads still alive when the time ran out (empty when all ended)
     */
    public List<Thread> awaitEnd(Duration timeout) {
      long deadline = System.nanoTime() + timeout.toNanos();
      List<Thread> alive = new ArrayList<>();
      for (Thread t : List.copyOf(threads)) {
        long left = deadline - System.nanoTime();
        try {
          if (left > 0) {
            t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          deadline = System.nanoTime(); // interrupted: report, no more waiting
        }
        if (t.isAlive()) {
          alive.add(t);
        } else {
          threads.remove(t);
        }
      }
      return alive;
    }
  }
}
