package dev.llmrelay.core.testing;

import static dev.llmrelay.core.testing.EngineProcesses.HOST;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A private PostgreSQL cluster for tests: its own data directory in a new temp directory, its own
 * free port on 127.0.0.1, nothing shared with a system PostgreSQL. Made with the machine's
 * {@code initdb} and run with its {@code pg_ctl}: found in {@code /usr/lib/postgresql/<newest>/bin},
 * {@code /usr/local/pgsql/bin} or on PATH.
 *
 * <p>{@code initdb} refuses to run as root, so when the JVM is root every PostgreSQL command runs
 * as the user {@code postgres} ({@code runuser -u postgres --}), who then owns the directory;
 * otherwise they run as the JVM's user.
 *
 * <p>Clients log in as {@link #user()} with {@link #password()} (SCRAM, as a production server
 * would ask). {@code fsync} is off unless {@link Builder#fsync(boolean)} turns it on: an immediate
 * stop (the process dies, the kernel keeps its page cache) loses nothing either way, only a
 * machine crash would.
 *
 * <p>Most tests use the one {@link #shared()} cluster of their JVM (initdb costs about a second,
 * more on a busy machine) and a {@linkplain #createDatabase(String) database of their own}. A test
 * that stops it ({@link #stopImmediately()}) starts it again before it ends; the
 * {@link EngineExtension} restarts it after the class if it did not.
 *
 * <p>No orphans: every engine has a shutdown hook that stops it and deletes its directory, and a
 * watchdog process (see {@code EngineProcesses.Watchdog}) that does the same when the JVM dies
 * without running hooks (SIGKILL, {@code Runtime.halt}). A postmaster started by {@code pg_ctl} is
 * not the JVM's child and would otherwise outlive it.
 *
 * <p>Thread-safe: every method is synchronized.
 */
public final class PostgresEngine implements AutoCloseable {
  /** The superuser that clients log in as. */
  public static final String USER = "llmrelay";

  /** Its password. */
  public static final String PASSWORD = "llmrelay-test";

  /** How long a start may take by default: 30 s, for a busy 2-core machine. */
  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);

  private static final String NAME = "PostgreSQL";
  private static final String HOW_TO_INSTALL =
      "apt-get install -y postgresql (Debian/Ubuntu; the server binaries, initdb and pg_ctl, are used "
          + "directly: no system cluster needs to run), or put a PostgreSQL bin directory on PATH";
  private static final Pattern DATABASE_NAME = Pattern.compile("[a-z_][a-z0-9_]{0,62}");
  private static final int PORT_ATTEMPTS = 5;
  private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);

  private static PostgresEngine shared;
  private static RuntimeException sharedFailure;

  private final Path binDir;
  private final List<String> runAs;
  private final boolean fsync;
  private final Duration startTimeout;
  private final Path dir;
  private final Path dataDir;
  private final Path serverLog;
  private final Path commandLog;
  private final EngineProcesses.Watchdog watchdog;
  private final Thread shutdownHook;
  private boolean isShared;
  private int port;
  private boolean running;
  private boolean closed;
  private Duration lastStartDuration = Duration.ZERO;

  /** Settings for a private cluster; most tests want {@link #shared()} instead. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The JVM's shared cluster, made and started on first use (a second or so), stopped and deleted
   * by a shutdown hook. Not to be {@linkplain #close() closed} by tests.
   *
   * @throws EngineUnavailableException PostgreSQL is not installed here (tests go through
   *     {@link MissingEnginePolicy}: {@link EngineExtension} or {@link RequiresPostgres} do)
   * @throws IllegalStateException it is installed but did not start (the log is in the message);
   *     later calls throw the same exception rather than trying again
   */
  public static synchronized PostgresEngine shared() {
    if (shared != null) {
      return shared;
    }
    if (sharedFailure != null) {
      throw sharedFailure;
    }
    try {
      PostgresEngine engine = builder().start();
      engine.markShared();
      shared = engine;
      return engine;
    } catch (RuntimeException e) {
      sharedFailure = e;
      throw e;
    }
  }

  /** The shared cluster if something started it already, without starting it. */
  static synchronized Optional<PostgresEngine> sharedIfStarted() {
    return Optional.ofNullable(shared);
  }

  /** Settings for a private cluster. */
  public static final class Builder {
    private Path binDir;
    private boolean fsync;
    private Duration startTimeout = DEFAULT_START_TIMEOUT;

    private Builder() {}

    /** Where initdb, pg_ctl, postgres and psql are, instead of looking for them. */
    public Builder binDirectory(Path dir) {
      this.binDir = Objects.requireNonNull(dir, "dir");
      return this;
    }

    /**
     * {@code fsync}, {@code full_page_writes} on (default off): for a test whose point is data
     * on disk surviving more than the death of the server process.
     */
    public Builder fsync(boolean on) {
      this.fsync = on;
      return this;
    }

    /** How long {@code pg_ctl start} may wait for the server; default 30 s. */
    public Builder startTimeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero() || timeout.toSeconds() < 1) {
        throw new IllegalArgumentException("start timeout below 1 s: " + timeout);
      }
      this.startTimeout = timeout;
      return this;
    }

    /**
     * Makes the cluster and starts it; the caller {@linkplain PostgresEngine#close() closes} it.
     *
     * @throws EngineUnavailableException PostgreSQL is not installed here, or cannot be run
     * @throws IllegalStateException it did not start; the message has the logs
     */
    public PostgresEngine start() {
      Path bin = binDir != null ? binDir : locateBinDirectory();
      for (String tool : List.of("initdb", "pg_ctl", "postgres", "psql")) {
        if (!EngineProcesses.isExecutable(bin.resolve(tool))) {
          throw new EngineUnavailableException(NAME, "no executable " + tool + " in " + bin, HOW_TO_INSTALL);
        }
      }
      List<String> runAs = new ArrayList<>();
      UserPrincipal owner = null;
      if (EngineProcesses.isRoot()) {
        // initdb refuses to run as root: the server's commands run as postgres, who owns the files.
        owner = EngineProcesses.user("postgres").orElseThrow(() -> new EngineUnavailableException(NAME,
            "this JVM runs as root, initdb refuses root, and there is no user 'postgres' to run it as",
            "useradd --system postgres (the Debian package creates it)"));
        Path runuser = EngineProcesses.findExecutable("runuser", List.of(Path.of("/usr/sbin"), Path.of("/sbin")))
            .orElseThrow(() -> new EngineUnavailableException(NAME,
                "this JVM runs as root and there is no runuser to run initdb as 'postgres'",
                "apt-get install -y util-linux"));
        runAs.addAll(List.of(runuser.toString(), "-u", "postgres", "--"));
      }
      try {
        PostgresEngine engine = new PostgresEngine(bin, runAs, owner, fsync, startTimeout);
        engine.initialize();
        return engine;
      } catch (IOException e) {
        throw new UncheckedIOException("could not set up a PostgreSQL cluster", e);
      }
    }
  }

  /** The bin directory of the newest PostgreSQL found, or EngineUnavailableException. */
  private static Path locateBinDirectory() {
    List<Path> candidates = new ArrayList<>();
    Path debian = Path.of("/usr/lib/postgresql");
    if (Files.isDirectory(debian)) {
      try (Stream<Path> versions = Files.list(debian)) {
        versions
            .filter(p -> p.getFileName().toString().matches("\\d+(\\.\\d+)?"))
            .sorted(Comparator.comparingDouble((Path p) -> Double.parseDouble(p.getFileName().toString())).reversed())
            .map(p -> p.resolve("bin"))
            .forEach(candidates::add);
      } catch (IOException e) {
        // fall through to the other places
      }
    }
    candidates.add(Path.of("/usr/local/pgsql/bin"));
    for (Path dir : candidates) {
      if (EngineProcesses.isExecutable(dir.resolve("initdb")) && EngineProcesses.isExecutable(dir.resolve("pg_ctl"))) {
        return dir;
      }
    }
    Optional<Path> initdb = EngineProcesses.findExecutable("initdb", List.of());
    if (initdb.isPresent()) {
      try {
        // Follow a symlink (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) to the
        // directory that has the server and psql too.
        return initdb.get().toRealPath().getParent();
      } catch (IOException e) {
        return initdb.get().getParent();
      }
    }
    throw new EngineUnavailableException(NAME,
        "no initdb in /usr/lib/postgresql/*/bin, /usr/local/pgsql/bin or on PATH", HOW_TO_INSTALL);
  }

  private PostgresEngine(Path binDir, List<String> runAs, UserPrincipal owner, boolean fsync, Duration startTimeout)
      throws IOException {
    this.binDir = binDir;
    this.runAs = List.copyOf(runAs);
    this.fsync = fsync;
    this.startTimeout = startTimeout;
    this.dir = EngineProcesses.createEngineDirectory("llmrelay-pg-", owner != null);
    this.dataDir = dir.resolve("data");
    this.serverLog = dir.resolve("postgres.log");
    this.commandLog = dir.resolve("commands.log");
    Files.createFile(serverLog);
    Files.createFile(commandLog);
    if (owner != null) {
      Files.setOwner(dir, owner);
      Files.setOwner(serverLog, owner);
    }
    List<String> stop = command("pg_ctl", "-D", dataDir.toString(), "-m", "immediate", "-w", "-t", "30", "stop");
    StringBuilder cleanup = new StringBuilder();
    for (String word : stop) {
      cleanup.append(EngineProcesses.shellQuote(word)).append(' ');
    }
    cleanup.append(">/dev/null 2>&1\nrm -rf -- ").append(EngineProcesses.shellQuote(dir.toString()));
    this.watchdog = new EngineProcesses.Watchdog(cleanup.toString());
    this.shutdownHook = new Thread(this::destroy, "llmrelay-postgres-cleanup");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
  }

  private void markShared() {
    isShared = true;
  }

  private List<String> command(String tool, String... args) {
    List<String> command = new ArrayList<>(runAs);
    command.add(binDir.resolve(tool).toString());
    command.addAll(List.of(args));
    return command;
  }

  private synchronized void initialize() throws IOException {
    try {
      Path pwfile = dir.resolve("pwfile");
      Files.writeString(pwfile, PASSWORD + "\n", StandardCharsets.UTF_8);
      Files.setOwner(pwfile, Files.getOwner(dir));
      int exit = EngineProcesses.run(
          command("initdb", "-D", dataDir.toString(), "-U", USER, "-A", "scram-sha-256", "--pwfile=" + pwfile,
              "-E", "UTF8", "--locale=C", "--no-sync"),
          dir, commandLog, COMMAND_TIMEOUT);
      Files.deleteIfExists(pwfile);
      if (exit != 0) {
        throw failure("initdb failed (exit " + exit + ")");
      }
      String settings = "\n# llmrelay tests: private, loopback only\n"
          + "listen_addresses = '" + HOST + "'\n"
          + "unix_socket_directories = '" + dir + "'\n"
          + "max_connections = 200\n"
          + "fsync = " + (fsync ? "on" : "off") + "\n"
          + "full_page_writes = " + (fsync ? "on" : "off") + "\n"
          + "timezone = 'UTC'\n";
      Files.writeString(dataDir.resolve("postgresql.conf"), settings, StandardCharsets.UTF_8, StandardOpenOption.APPEND);

      // The first start picks the port; if another process binds it first, try a fresh one.
      for (int attempt = 1; ; attempt++) {
        port = EngineProcesses.freePort();
        long logMark = Files.size(serverLog);
        try {
          startServer();
          return;
        } catch (IllegalStateException e) {
          if (attempt >= PORT_ATTEMPTS || !portWasTaken(logMark)) {
            throw e;
          }
        }
      }
    } catch (RuntimeException | IOException | Error e) {
      destroy();
      throw e;
    }
  }

  /** Whether the server's log since {@code mark} says it could not bind its port. */
  private boolean portWasTaken(long mark) throws IOException {
    String log = EngineProcesses.tail(serverLog, (int) Math.min(Integer.MAX_VALUE, Files.size(serverLog) - mark));
    return log.contains("could not bind") || log.contains("Address already in use");
  }

  private void startServer() throws IOException {
    long started = System.nanoTime();
    int exit = EngineProcesses.run(
        command("pg_ctl", "-D", dataDir.toString(), "-l", serverLog.toString(), "-w",
            "-t", Long.toString(startTimeout.toSeconds()), "-o", "-p " + port, "start"),
        dir, commandLog, startTimeout.plusSeconds(30));
    if (exit != 0) {
      // pg_ctl gives up after -t, but the server may still be coming up: make sure it is not.
      EngineProcesses.run(command("pg_ctl", "-D", dataDir.toString(), "-m", "immediate", "-w", "stop"),
          dir, commandLog, COMMAND_TIMEOUT);
      running = false;
      throw failure("pg_ctl start failed (exit " + exit + ") on port " + port);
    }
    running = true;
    lastStartDuration = Duration.ofNanos(System.nanoTime() - started);
    System.err.printf("[llmrelay-testing] PostgreSQL started on %s:%d in %d ms (%s)%n",
        HOST, port, lastStartDuration.toMillis(), dir);
  }

  private IllegalStateException failure(String what) {
    return new IllegalStateException("PostgreSQL test cluster in " + dir + ": " + what
        + "\n--- " + commandLog + " (end) ---\n" + EngineProcesses.tail(commandLog, 4000)
        + "\n--- " + serverLog + " (end) ---\n" + EngineProcesses.tail(serverLog, 4000));
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("this PostgreSQL test cluster is closed");
    }
  }

  /** Always 127.0.0.1. */
  public String host() {
    return HOST;
  }

  /** Its port on 127.0.0.1, the same across {@link #stopImmediately()} and {@link #start()}. */
  public synchronized int port() {
    return port;
  }

  /** The superuser clients log in as: {@value #USER}. */
  public String user() {
    return USER;
  }

  /** Its password: {@value #PASSWORD}. */
  public String password() {
    return PASSWORD;
  }

  /** The JDBC URL of the {@code postgres} database. */
  public String jdbcUrl() {
    return jdbcUrl("postgres");
  }

  /** The JDBC URL of {@code database} (no check that it exists). */
  public synchronized String jdbcUrl(String database) {
    return "jdbc:postgresql://" + HOST + ":" + port + "/" + database;
  }

  /**
   * An empty database named {@code name}, dropped first if it exists (connections to it are
   * ended): one per test class keeps the classes that share the cluster apart.
   *
   * @param name lower-case letters, digits and underscores, starting with a letter or underscore
   * @return its JDBC URL
   */
  public synchronized String createDatabase(String name) {
    if (!DATABASE_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("database name must match " + DATABASE_NAME + ": " + name);
    }
    checkOpen();
    if (!running) {
      throw new IllegalStateException("PostgreSQL test cluster is stopped: start() it first");
    }
    List<String> psql = new ArrayList<>(List.of(binDir.resolve("psql").toString(),
        "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", Integer.toString(port), "-U", USER, "-d", "postgres",
        "-c", "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)",
        "-c", "CREATE DATABASE \"" + name + "\""));
    try {
      int exit = EngineProcesses.run(psql, dir, commandLog, COMMAND_TIMEOUT,
          "PGPASSWORD", PASSWORD, "PGCONNECT_TIMEOUT", "10");
      if (exit != 0) {
        throw failure("could not create database " + name + " (psql exit " + exit + ")");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return jdbcUrl(name);
  }

  /**
   * Whether the server runs, as {@code pg_ctl status} sees it (true also for a server that is
   * still recovering).
   */
  public synchronized boolean isRunning() {
    if (closed) {
      return false;
    }
    try {
      return EngineProcesses.run(command("pg_ctl", "-D", dataDir.toString(), "status"), dir, commandLog,
          COMMAND_TIMEOUT) == 0;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * {@code pg_ctl -m immediate stop}: every server process quits at once, as after a crash,
   * without a checkpoint; clients see their connections cut. The next {@link #start()} recovers
   * from the write-ahead log: whatever was committed before is still there.
   */
  public synchronized void stopImmediately() {
    stop("immediate");
  }

  /** {@code pg_ctl -m fast stop}: sessions ended, a clean shutdown checkpoint. */
  public synchronized void stop() {
    stop("fast");
  }

  private void stop(String mode) {
    checkOpen();
    try {
      Optional<ProcessHandle> postmaster = postmaster();
      int exit = EngineProcesses.run(command("pg_ctl", "-D", dataDir.toString(), "-m", mode, "-w", "-t", "30", "stop"),
          dir, commandLog, COMMAND_TIMEOUT);
      if (exit != 0 && isRunning()) {
        throw failure("pg_ctl -m " + mode + " stop failed (exit " + exit + ")");
      }
      awaitExit(postmaster);
      running = false;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Starts the server again on the same data directory and the same port (after
   * {@link #stopImmediately()} or {@link #stop()}); does nothing if it runs. If another process
   * took the port meanwhile, it fails with the server's log in the message.
   */
  public synchronized void start() {
    checkOpen();
    if (running && isRunning()) {
      return;
    }
    try {
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** How long the last start took, {@code pg_ctl start} until it accepted connections. */
  public synchronized Duration lastStartDuration() {
    return lastStartDuration;
  }

  /** The cluster's temp directory (data, socket, logs). */
  public Path directory() {
    return dir;
  }

  /** The server's log file. */
  public Path serverLog() {
    return serverLog;
  }

  /**
   * Stops the server at once and deletes its directory. Not allowed on the {@link #shared()}
   * cluster, which a shutdown hook closes.
   */
  @Override
  public void close() {
    synchronized (this) {
      if (isShared) {
        throw new IllegalStateException("the shared PostgreSQL test cluster is closed by the JVM's shutdown hook");
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
    try {
      Optional<ProcessHandle> postmaster = postmaster();
      if (postmaster.isPresent()) {
        EngineProcesses.run(command("pg_ctl", "-D", dataDir.toString(), "-m", "immediate", "-w", "-t", "30", "stop"),
            dir, commandLog, COMMAND_TIMEOUT);
        awaitExit(postmaster);
      }
    } catch (IOException e) {
      // the watchdog tries again
    }
    running = false;
    EngineProcesses.deleteTree(dir);
    watchdog.close();
  }

  /** The postmaster, from the first line of postmaster.pid, if it runs. */
  private Optional<ProcessHandle> postmaster() {
    try {
      List<String> lines = Files.readAllLines(dataDir.resolve("postmaster.pid"));
      return lines.isEmpty() ? Optional.empty() : ProcessHandle.of(Long.parseLong(lines.get(0).strip()));
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
  }

  /**
   * Waits up to 10 s for the postmaster to end: pg_ctl returns once postmaster.pid is gone, which
   * the postmaster removes just before it exits.
   */
  private static void awaitExit(Optional<ProcessHandle> postmaster) {
    if (postmaster.isEmpty()) {
      return;
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!EngineProcesses.hasEnded(postmaster.get()) && System.nanoTime() < deadline) {
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  @Override
  public String toString() {
    return "PostgresEngine[" + HOST + ":" + port + ", " + dir + "]";
  }
}
