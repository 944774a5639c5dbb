package dev.llmrelay.core.testing;

import static dev.llmrelay.core.testing.EngineProcesses.HOST;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A private Redis server for tests: the machine's {@code redis-server} (found in /usr/bin,
 * /usr/sbin, /usr/local/bin or on PATH), started as a child process of the JVM in the foreground
 * ({@code --daemonize no}) on a free port of 127.0.0.1, with persistence off ({@code --save ''
 * --appendonly no}) and its working directory in a new temp directory. A system Redis (Debian's
 * package starts one on 6379) is neither used nor disturbed.
 *
 * <p>Most tests use the one {@link #shared()} server of their JVM and {@link #flushAll()} or keys
 * of their own. A test that {@linkplain #stop() stops} it starts it again before it ends; the
 * {@link EngineExtension} restarts it after the class if it did not.
 *
 * <p>No orphans: a child process does not die with its parent, so every engine has a shutdown
 * hook that stops the server and deletes its directory, and a watchdog process that kills it when
 * the JVM dies without running hooks (SIGKILL, {@code Runtime.halt}).
 *
 * <p>Thread-safe: every method is synchronized.
 */
public final class RedisEngine implements AutoCloseable {
  /** How long a start may take by default: 30 s, for a busy 2-core machine. */
  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);

  private static final String NAME = "Redis";
  private static final String HOW_TO_INSTALL =
      "apt-get install -y redis-server (Debian/Ubuntu; .ci/run does this when it runs as root), "
          + "or put redis-server on PATH";
  private static final int PORT_ATTEMPTS = 5;
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

  private static RedisEngine shared;
  private static RuntimeException sharedFailure;

  private final Path executable;
  private final Duration startTimeout;
  private final Path dir;
  private final Path log;
  private final EngineProcesses.Watchdog watchdog;
  private final Thread shutdownHook;
  private boolean isShared;
  private int port;
  private Process process;
  private boolean closed;
  private Duration lastStartDuration = Duration.ZERO;

  /** Settings for a private server; most tests want {@link #shared()} instead. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The JVM's shared server, started on first use, stopped by a shutdown hook. Not to be
   * {@linkplain #close() closed} by tests.
   *
   * @throws EngineUnavailableException redis-server is not installed here (tests go through
   *     {@link MissingEnginePolicy}: {@link EngineExtension} or {@link RequiresRedis} do)
   * @throws IllegalStateException it is installed but did not start (the log is in the message);
   *     later calls throw the same exception rather than trying again
   */
  public static synchronized RedisEngine shared() {
    if (shared != null) {
      return shared;
    }
    if (sharedFailure != null) {
      throw sharedFailure;
    }
    try {
      RedisEngine engine = builder().start();
      engine.markShared();
      shared = engine;
      return engine;
    } catch (RuntimeException e) {
      sharedFailure = e;
      throw e;
    }
  }

  /** The shared server if something started it already, without starting it. */
  static synchronized Optional<RedisEngine> sharedIfStarted() {
    return Optional.ofNullable(shared);
  }

  /** Settings for a private server. */
  public static final class Builder {
    private Path executable;
    private Duration startTimeout = DEFAULT_START_TIMEOUT;

    private Builder() {}

    /** The redis-server to run, instead of looking for it. */
    public Builder executable(Path redisServer) {
      this.executable = Objects.requireNonNull(redisServer, "redisServer");
      return this;
    }

    /** How long a start may take until the server answers; default 30 s. */
    public Builder startTimeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("start timeout not positive: " + timeout);
      }
      this.startTimeout = timeout;
      return this;
    }

    /**
     * Starts the server; the caller {@linkplain RedisEngine#close() closes} it.
     *
     * @throws EngineUnavailableException redis-server is not installed here
     * @throws IllegalStateException it did not start; the message has its log
     */
    public RedisEngine start() {
      Path server = executable;
      if (server == null) {
        server = EngineProcesses.findExecutable("redis-server",
                List.of(Path.of("/usr/bin"), Path.of("/usr/sbin"), Path.of("/usr/local/bin")))
            .orElseThrow(() -> new EngineUnavailableException(NAME,
                "no redis-server in /usr/bin, /usr/sbin, /usr/local/bin or on PATH", HOW_TO_INSTALL));
      } else if (!EngineProcesses.isExecutable(server)) {
        throw new EngineUnavailableException(NAME, "no executable redis-server at " + server, HOW_TO_INSTALL);
      }
      try {
        RedisEngine engine = new RedisEngine(server, startTimeout);
        engine.initialize();
        return engine;
      } catch (IOException e) {
        throw new UncheckedIOException("could not set up a Redis server", e);
      }
    }
  }

  private RedisEngine(Path executable, Duration startTimeout) throws IOException {
    this.executable = executable;
    this.startTimeout = startTimeout;
    this.dir = EngineProcesses.createEngineDirectory("llmrelay-redis-", false);
    this.log = dir.resolve("redis.log");
    // $last is the running server's pid, or empty once it stopped (no pid reused by another).
    this.watchdog = new EngineProcesses.Watchdog(
        "case \"$last\" in ''|*[!0-9]*) ;; *) kill -9 \"$last\" 2>/dev/null ;; esac\n"
            + "rm -rf -- " + EngineProcesses.shellQuote(dir.toString()));
    this.shutdownHook = new Thread(this::destroy, "llmrelay-redis-cleanup");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
  }

  private void markShared() {
    isShared = true;
  }

  private synchronized void initialize() throws IOException {
    try {
      // The first start picks the port; if another process binds it first, try a fresh one.
      for (int attempt = 1; ; attempt++) {
        port = EngineProcesses.freePort();
        long logMark = Files.exists(log) ? Files.size(log) : 0;
        try {
          startServer();
          return;
        } catch (IllegalStateException e) {
          String since = EngineProcesses.tail(log, (int) Math.max(0, Files.size(log) - logMark));
          if (attempt >= PORT_ATTEMPTS || !since.contains("Address already in use")) {
            throw e;
          }
        }
      }
    } catch (RuntimeException | IOException | Error e) {
      destroy();
      throw e;
    }
  }

  private void startServer() throws IOException {
    long started = System.nanoTime();
    EngineProcesses.append(log, "\n--- starting on " + HOST + ":" + port + " ---\n");
    ProcessBuilder builder = new ProcessBuilder(executable.toString(),
        "--port", Integer.toString(port),
        "--bind", HOST,
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--save", "",
        "--appendonly", "no",
        "--dir", dir.toString(),
        "--logfile", "")
        .directory(dir.toFile())
        .redirectInput(Path.of("/dev/null").toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    EngineProcesses.cleanEnvironment(builder);
    process = builder.start();
    watchdog.tell(Long.toString(process.pid()));
    long deadline = System.nanoTime() + startTimeout.toNanos();
    while (true) {
      if (!process.isAlive()) {
        forget();
        throw failure("redis-server exited with " + process.exitValue() + " on port " + port);
      }
      if (answersAsUs()) {
        lastStartDuration = Duration.ofNanos(System.nanoTime() - started);
        System.err.printf("[llmrelay-testing] Redis started on %s:%d in %d ms (%s)%n",
            HOST, port, lastStartDuration.toMillis(), dir);
        return;
      }
      if (System.nanoTime() > deadline) {
        kill();
        throw failure("redis-server did not answer on port " + port + " within " + startTimeout.toSeconds() + " s");
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        kill();
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while starting Redis", e);
      }
    }
  }

  /** Whether the server on our port is ours: it answers, and INFO names our process. */
  private boolean answersAsUs() {
    try {
      String info = command(Duration.ofSeconds(2), "INFO", "server");
      return info.contains("process_id:" + process.pid() + "\r\n");
    } catch (IOException e) {
      return false;
    }
  }

  private IllegalStateException failure(String what) {
    return new IllegalStateException("Redis test server in " + dir + ": " + what
        + "\n--- " + log + " (end) ---\n" + EngineProcesses.tail(log, 4000));
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("this Redis test server is closed");
    }
  }

  /** Always 127.0.0.1. */
  public String host() {
    return HOST;
  }

  /** Its port, the same across {@link #stop()} and {@link #start()}. */
  public synchronized int port() {
    return port;
  }

  /** {@code redis://127.0.0.1:PORT}. */
  public synchronized String uri() {
    return "redis://" + HOST + ":" + port;
  }

  /** Whether the server process is alive. */
  public synchronized boolean isRunning() {
    return process != null && process.isAlive();
  }

  /** Deletes every key of every database ({@code FLUSHALL}), for a test that wants it empty. */
  public synchronized void flushAll() {
    checkOpen();
    try {
      String reply = command(Duration.ofSeconds(10), "FLUSHALL");
      if (!reply.equals("+OK")) {
        throw new IllegalStateException("FLUSHALL answered " + reply);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Stops the server as {@code redis-cli -p PORT shutdown nosave} would (the command over the
   * port; the process if it does not answer), and waits until it is gone.
   */
  public synchronized void stop() {
    checkOpen();
    if (!isRunning()) {
      forget();
      return;
    }
    try {
      command(Duration.ofSeconds(5), "SHUTDOWN", "NOSAVE");
    } catch (IOException e) {
      // expected: the server closes the connection without an answer
    }
    try {
      if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    forget();
  }

  /** Kills the server process (SIGKILL), as a crash would, and waits until it is gone. */
  public synchronized void kill() {
    if (process != null) {
      process.destroyForcibly();
      try {
        process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    forget();
  }

  private void forget() {
    watchdog.tell("");
  }

  /**
   * Starts the server again on the same port (after {@link #stop()} or {@link #kill()}), empty;
   * does nothing if it runs. If another process took the port meanwhile, it fails with the log.
   */
  public synchronized void start() {
    checkOpen();
    if (isRunning()) {
      return;
    }
    try {
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** How long the last start took, from spawning the process until it answered. */
  public synchronized Duration lastStartDuration() {
    return lastStartDuration;
  }

  /** The server's temp directory (its working directory and log). */
  public Path directory() {
    return dir;
  }

  /** The server's log file. */
  public Path log() {
    return log;
  }

  /**
   * Stops the server and deletes its directory. Not allowed on the {@link #shared()} server,
   * which a shutdown hook closes.
   */
  @Override
  public void close() {
    synchronized (this) {
      if (isShared) {
        throw new IllegalStateException("the shared Redis test server is closed by the JVM's shutdown hook");
      }
    }
    destroy();
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException e) {
      // the JVM is shutting down: the hook runs anyway
    }
  }

  private synchronized void destroy() {
    if (closed) {
      return;
    }
    closed = true;
    kill();
    EngineProcesses.deleteTree(dir);
    watchdog.close();
  }

  /**
   * One command over a new connection: the reply's first line ({@code +OK}, {@code -ERR ...},
   * {@code :1}), or a bulk reply's content.
   */
  private String command(Duration timeout, String... args) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(HOST, port), (int) timeout.toMillis());
      socket.setSoTimeout((int) timeout.toMillis());
      StringBuilder request = new StringBuilder("*").append(args.length).append("\r\n");
      for (String arg : args) {
        request.append('$').append(arg.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(arg).append("\r\n");
      }
      OutputStream out = socket.getOutputStream();
      out.write(request.toString().getBytes(StandardCharsets.UTF_8));
      out.flush();
      InputStream in = socket.getInputStream();
      String first = readLine(in);
      if (!first.startsWith("$") || first.equals("$-1")) {
        return first;
      }
      byte[] bulk = in.readNBytes(Integer.parseInt(first.substring(1)) + 2);
      return new String(bulk, StandardCharsets.UTF_8);
    }
  }

  private static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int previous = -1;
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new EOFException("connection closed");
      }
      if (previous == '\r' && b == '\n') {
        byte[] bytes = line.toByteArray();
        return new String(bytes, 0, bytes.length - 1, StandardCharsets.UTF_8);
      }
      line.write(b);
      previous = b;
    }
  }

  @Override
  public String toString() {
    return "RedisEngine[" + uri() + ", " + dir + "]";
  }
}
