package dev.llmrelay.core.internal;

import java.lang.reflect.Method;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Thread pools of the relay. Exchanges block (OkHttp's synchronous calls, writes to the client),
 * so on Java 21+ each runs on its own virtual thread; Java 17 falls back to a cached pool of
 * daemon platform threads, whose size the permit count bounds. Reflection keeps the Java 17
 * baseline compiling while using virtual threads where the runtime has them.
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
    if (virtualThreadsAvailable()) {
      try {
        Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
        Class<?> ofVirtual = Class.forName("java.lang.Thread$Builder$OfVirtual");
        builder = ofVirtual.getMethod("name", String.class, long.class).invoke(builder, namePrefix, 0L);
        Method factory = Class.forName("java.lang.Thread$Builder").getMethod("factory");
        ThreadFactory threads = (ThreadFactory) factory.invoke(builder);
        return (ExecutorService)
            Executors.class
                .getMethod("newThreadPerTaskExecutor", ThreadFactory.class)
                .invoke(null, threads);
      } catch (ReflectiveOperationException | RuntimeException e) {
        // Fall through to platform threads: a runtime that reports 21+ but lacks the API.
      }
    }
    return Executors.newCachedThreadPool(daemonFactory(namePrefix));
  }

  /** A single-threaded daemon scheduler whose cancelled tasks leave its queue at once. */
  public static ScheduledThreadPoolExecutor newScheduler(String name) {
    ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1, daemonFactory(name));
    scheduler.setRemoveOnCancelPolicy(true);
    scheduler.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    return scheduler;
  }

  /** Daemon platform threads named {@code prefix + n}. */
  public static ThreadFactory daemonFactory(String prefix) {
    AtomicLong n = new AtomicLong();
    return r -> {
      Thread t = new Thread(r, prefix + n.getAndIncrement());
      t.setDaemon(true);
      return t;
    };
  }
}
