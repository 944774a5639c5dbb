package dev.llmrelay.core.internal;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import okhttp3.ConnectionPool;
import okhttp3.OkHttpClient;

/**
 * Gives one OkHttp client a task runner of its own, whose threads end when {@link #shutdown()} is
 * called. The only place llmrelay touches an OkHttp internal API.
 *
 * <p>Why: OkHttp runs its background work (the connection pool's cleanup, HTTP/2 readers and
 * writers) on a task runner, by default {@code TaskRunner.INSTANCE}: one per class loader, whose
 * idle "OkHttp TaskRunner" threads linger 60 s and which no public API stops. A webapp that closed
 * its client on undeploy therefore still had OkHttp threads alive, and Tomcat warned that it
 * "appears to have started a thread named [OkHttp TaskRunner] but has failed to stop it" (and kept
 * its class loader for that minute). OkHttp 5.5 has no public way to supply a task runner: the
 * {@code ConnectionPool} constructor taking one and {@code OkHttpClient.Builder.taskRunner} are
 * Kotlin {@code internal} (public in the bytecode; {@code okhttp3.internal.Internal} exposes the
 * builder's for OkHttp's own modules). OkHttp's module does not export these packages to us, so
 * they are reached by reflection, found once; when they are missing (an OkHttp upgrade changed
 * them) or inaccessible (OkHttp and llmrelay on the module path), the client falls back to OkHttp's
 * shared runner and works as before, with the 60 s of lingering threads. {@code
 * ClientThreadsTest.thisOkHttpLetsTheClientHaveItsOwnTaskRunner} fails on an OkHttp whose API moved.
 *
 * <p>Thread-safe.
 */
final class OkHttpTaskRunner {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(OkHttpTaskRunner.class);

  /** The reflective handles, or null when this OkHttp does not offer them (see {@link #UNAVAILABLE}). */
  private static final Api API;
  /** Why {@link #API} is null; null when it is not. */
  private static final String UNAVAILABLE;

  static {
    Api api = null;
    String reason = null;
    try {
      api = Api.find();
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      reason = e.toString();
    }
    API = api;
    UNAVAILABLE = reason;
  }

  /** OkHttp's internal types and members this class uses. */
  private record Api(
      Constructor<?> newBackend,
      Method backendExecutor,
      Constructor<?> newTaskRunner,
      Object taskRunnerLogger,
      Constructor<ConnectionPool> newPool,
      Object noConnectionListener,
      Method installOnBuilder) {

    static Api find() throws ReflectiveOperationException {
      ClassLoader okhttp = OkHttpClient.class.getClassLoader();
      Class<?> taskRunner = Class.forName("okhttp3.internal.concurrent.TaskRunner", false, okhttp);
      Class<?> backend = Class.forName("okhttp3.internal.concurrent.TaskRunner$Backend", false, okhttp);
      Class<?> realBackend = Class.forName("okhttp3.internal.concurrent.TaskRunner$RealBackend", false, okhttp);
      Class<?> listener = Class.forName("okhttp3.internal.connection.ConnectionListener", false, okhttp);
      Class<?> internal = Class.forName("okhttp3.internal.Internal", false, okhttp);
      Object companion = listener.getField("Companion").get(null);
      // java.util.logging by name: the core module does not read java.logging for this one call.
      Class<?> julLogger = Class.forName("java.util.logging.Logger");
      Api api = new Api(
          realBackend.getConstructor(ThreadFactory.class),
          realBackend.getMethod("getExecutor"),
          taskRunner.getConstructor(backend, julLogger),
          julLogger.getMethod("getLogger", String.class).invoke(null, taskRunner.getName()),
          ConnectionPool.class.getConstructor(int.class, long.class, TimeUnit.class, taskRunner, listener),
          companion.getClass().getMethod("getNONE").invoke(companion),
          internal.getMethod("taskRunnerInternal", OkHttpClient.Builder.class, taskRunner));
      // Prove access once (the module path refuses it here rather than in a client).
      Object probe = api.newBackend.newInstance((ThreadFactory) r -> new Thread(r));
      ((ThreadPoolExecutor) api.backendExecutor.invoke(probe)).shutdownNow();
      return api;
    }
  }

  /** OkHttp's TaskRunner of this client, or null when it uses the shared one. */
  private final Object taskRunner;
  /** The executor behind {@link #taskRunner}, or null. */
  private final ThreadPoolExecutor executor;

  private OkHttpTaskRunner(Object taskRunner, ThreadPoolExecutor executor) {
    this.taskRunner = taskRunner;
    this.executor = executor;
  }

  /**
   * A task runner whose threads come from {@code threads}, or OkHttp's shared one when this OkHttp
   * does not allow it (logged once per client at INFO).
   */
  static OkHttpTaskRunner create(ThreadFactory threads) {
    if (API != null) {
      try {
        Object backend = API.newBackend.newInstance(threads);
        ThreadPoolExecutor executor = (ThreadPoolExecutor) API.backendExecutor.invoke(backend);
        // After shutdown OkHttp may still ask for a thread (a straggling call releases its
        // connection and the pool schedules its cleanup): drop that quietly, the runner is closed.
        executor.setRejectedExecutionHandler(new ThreadPoolExecutor.DiscardPolicy());
        Object runner = API.newTaskRunner.newInstance(backend, API.taskRunnerLogger);
        return new OkHttpTaskRunner(runner, executor);
      } catch (InstantiationException | IllegalAccessException | InvocationTargetException | RuntimeException e) {
        log.info("OkHttp's own task runner threads are used; they may outlive close() by 60 s: {}", e.toString());
        return new OkHttpTaskRunner(null, null);
      }
    }
    log.info("OkHttp's own task runner threads are used; they may outlive close() by 60 s: {}", UNAVAILABLE);
    return new OkHttpTaskRunner(null, null);
  }

  /** True when the client's background work runs on threads of its own. */
  boolean isolated() {
    return taskRunner != null;
  }

  /** Why {@link #isolated()} is false, for messages; null when it is true. */
  String unavailableReason() {
    return isolated() ? null : (UNAVAILABLE != null ? UNAVAILABLE : "the task runner could not be created");
  }

  /** A connection pool whose cleanup runs on this task runner. */
  ConnectionPool connectionPool(int maxIdleConnections, Duration keepAlive) {
    if (taskRunner != null) {
      try {
        return API.newPool.newInstance(
            maxIdleConnections, keepAlive.toMillis(), TimeUnit.MILLISECONDS, taskRunner, API.noConnectionListener);
      } catch (ReflectiveOperationException | RuntimeException e) {
        throw new IllegalStateException("OkHttp refused a connection pool with its own task runner", e);
      }
    }
    return new ConnectionPool(maxIdleConnections, keepAlive.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Makes the clients {@code builder} builds run their other background work (HTTP/2) here too. */
  OkHttpClient.Builder installOn(OkHttpClient.Builder builder) {
    if (taskRunner != null) {
      try {
        API.installOnBuilder.invoke(null, builder, taskRunner);
      } catch (ReflectiveOperationException | RuntimeException e) {
        throw new IllegalStateException("OkHttp refused its own task runner", e);
      }
    }
    return builder;
  }

  /**
   * Stops the threads: the idle ones end at once, a task waiting for its next run is interrupted
   * (OkHttp then cancels the runner's queued tasks). Wait for the threads with their factory's
   * owner. A task that blocks uninterruptibly (an HTTP/2 reader on a socket still open) ends when
   * its connection is closed.
   */
  void shutdown() {
    if (executor != null) {
      executor.shutdownNow();
    }
  }
}
