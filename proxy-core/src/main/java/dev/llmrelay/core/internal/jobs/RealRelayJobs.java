package dev.llmrelay.core.internal.jobs;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.UpstreamExchange;
import dev.llmrelay.core.internal.ConcurrencyGate;
import dev.llmrelay.core.internal.JsonBodies;
import dev.llmrelay.core.internal.Json;
import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.internal.Threads;
import dev.llmrelay.core.jobs.IdempotencyKeyReusedException;
import dev.llmrelay.core.jobs.Job;
import dev.llmrelay.core.jobs.JobPage;
import dev.llmrelay.core.jobs.JobQueueFullException;
import dev.llmrelay.core.jobs.JobStatus;
import dev.llmrelay.core.jobs.JobStoreUnavailableException;
import dev.llmrelay.core.jobs.JobSubmission;
import dev.llmrelay.core.jobs.JobsConfig;
import dev.llmrelay.core.jobs.RelayJobs;
import dev.llmrelay.core.jobs.Submitted;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The job service: the store plus this instance's worker. Two daemon threads ({@code
 * llmrelay-jobs-N}) poll for queued jobs, renew leases, sweep and write results; the exchanges
 * themselves run on the client's executor like interactive ones.
 */
public final class RealRelayJobs implements RelayJobs {
  private static final Logger log = LoggerFactory.getLogger(RelayJobs.class);
  /** Client headers a job keeps: harmless attribution and account selection, never credentials. */
  static final Set<String> STORED_HEADERS =
      Set.of("http-referer", "x-title", "openai-organization", "openai-project", "openai-beta");
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Duration STORE_RETRY = Duration.ofSeconds(1);
  /** How long claims pause after a run was refused for a passing reason. */
  private static final Duration REFUSAL_PAUSE = Duration.ofSeconds(1);
  /** Relay errors that refuse a run before any upstream attempt, for a reason that passes. */
  private static final Set<String> TEMPORARY_REFUSALS =
      Set.of("relay_closed", "concurrency_limit", "queue_full", "shared_state_unavailable", "upstream_circuit_open");

  private final RealUpstreamClient client;
  private final JobsConfig config;
  private final JdbcJobStore store;
  private final String where;
  private final ScheduledThreadPoolExecutor scheduler;
  private final Semaphore slots;
  private final Map<String, RunningJob> running = new ConcurrentHashMap<>();
  private final AtomicBoolean pollQueued = new AtomicBoolean();
  /** Held while a job is claimed and registered as running here, so runNow sees either state. */
  private final Object claimLock = new Object();
  private final AtomicLong claims = new AtomicLong();
  private final AtomicLong reclaimed = new AtomicLong();
  private final AtomicLong leasesLost = new AtomicLong();
  private final List<ScheduledFuture<?>> tasks = new java.util.ArrayList<>();
  private volatile Map<JobStatus, Long> byStatus = Map.of();
  private volatile boolean storeUp = true;
  private volatile boolean closed;
  /** False once a shutdown began: running jobs may finish, no new one starts here. */
  private volatile boolean claiming = true;
  /** {@link System#nanoTime()} before which the poller claims nothing (after a refused run). */
  private volatile long claimsPausedUntil = System.nanoTime();
  /**
   * SQLite only: one connection held open for the service's life, so the WAL and shared-memory
   * files stay (each operation's own connection then neither rebuilds nor checkpoints them).
   */
  private java.sql.Connection keeper;

  private RealRelayJobs(RealUpstreamClient client, JobsConfig config, JdbcJobStore store, String where) {
    this.client = client;
    this.config = config;
    this.store = store;
    this.where = where;
    this.slots = new Semaphore(config.maxConcurrent());
    this.scheduler = new ScheduledThreadPoolExecutor(2, Threads.daemonFactory("llmrelay-jobs-"));
    scheduler.setRemoveOnCancelPolicy(true);
    scheduler.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
  }

  /** See {@link RelayJobs#start(UpstreamClient, JobsConfig, DataSource)}. */
  public static RelayJobs start(UpstreamClient client, JobsConfig config, DataSource dataSource) {
    if (!(client instanceof RealUpstreamClient real)) {
      throw new IllegalArgumentException("jobs need a client made by UpstreamClient.create or its builder");
    }
    String url = config.storeUrl();
    String where = redact(url);
    Dialect dialect = Dialect.forUrl(url);
    DataSource source = dataSource;
    if (source == null) {
      if (dialect == Dialect.SQLITE) {
        prepareSqliteFile(url, where);
      }
      source =
          new DriverDataSource(
              url,
              config.storeUser().orElse(null),
              config.storePassword().orElse(null),
              DriverDataSource.driverFor(url, where));
    }
    JdbcJobStore store = new JdbcJobStore(source, dialect, where);
    try {
      store.createSchema();
      store.countQueued();
    } catch (JobStoreUnavailableException e) {
      throw new IllegalStateException("the job store " + where + " cannot be used: " + e.getCause().getMessage(), e);
    }
    RealRelayJobs jobs = new RealRelayJobs(real, config, store, where);
    if (dialect == Dialect.SQLITE) {
      try {
        jobs.keeper = source.getConnection();
        dialect.initConnection(jobs.keeper);
      } catch (java.sql.SQLException e) {
        throw new IllegalStateException("the job store " + where + " cannot be used: " + e.getMessage(), e);
      }
    }
    jobs.startBackground();
    log.info("jobs: store {}, up to {} at once, lease {}s, instance {}",
        where, config.maxConcurrent(), config.lease().toSeconds(), config.instanceId());
    return jobs;
  }

  private void startBackground() {
    long poll = config.pollInterval().toMillis();
    long renew = Math.max(50, config.lease().toMillis() / 3);
    long sweep = sweepInterval(config).toMillis();
    tasks.add(scheduler.scheduleWithFixedDelay(this::poll, 0, poll, TimeUnit.MILLISECONDS));
    tasks.add(scheduler.scheduleWithFixedDelay(this::renewAll, renew, renew, TimeUnit.MILLISECONDS));
    tasks.add(scheduler.scheduleWithFixedDelay(this::sweep, 0, sweep, TimeUnit.MILLISECONDS));
  }

  static Duration sweepInterval(JobsConfig config) {
    long ms = Math.min(config.lease().toMillis(), Math.min(config.resultTtl().toMillis(), config.maxQueue().toMillis())) / 2;
    return Duration.ofMillis(Math.max(100, Math.min(10_000, ms)));
  }

  // ---- the API -------------------------------------------------------------------------------

  @Override
  public Submitted submit(JobSubmission s) {
    if (closed) {
      throw new JobStoreUnavailableException("the job service is closed", null);
    }
    String hash = requestHash(s);
    String id = newId();
    String headers = storedHeaders(s.headers());
    JdbcJobStore.Inserted inserted =
        store(() -> store.insert(
            id,
            s.owner(),
            s.endpoint().clientPath(),
            s.model(),
            headers,
            s.body(),
            hash,
            s.metadata(),
            s.idempotencyKey(),
            config.maxQueue().toMillis(),
            config.maxQueued()));
    if (inserted == null) {
      throw new JobQueueFullException(config.maxQueued());
    }
    if (!inserted.created()) {
      if (!inserted.requestHash().equals(hash)) {
        throw new IdempotencyKeyReusedException(inserted.job().id());
      }
      return new Submitted(inserted.job(), true);
    }
    wakeUp();
    return new Submitted(inserted.job(), false);
  }

  @Override
  public Optional<Job> runNow(String owner, String id, Duration wait) throws InterruptedException {
    RunningJob job;
    synchronized (claimLock) { // the poller claims and registers under it too
      job = startHere(id);
      if (job == null) {
        job = running.get(id); // the poller claimed it first, on this instance
      }
    }
    if (job == null) {
      // Not startable here now; perhaps it even finished already.
      return get(owner, id, true).filter(j -> j.status().terminal());
    }
    try {
      job.written.get(wait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException | ExecutionException stillRunning) {
      return Optional.empty();
    }
    return get(owner, id, true).filter(j -> j.status().terminal());
  }

  /** Claims and starts the queued job {@code id} if a slot and a permit are free now; else null. */
  private RunningJob startHere(String id) {
    if (closed || !claiming || !slots.tryAcquire()) {
      return null;
    }
    ConcurrencyGate.Permit permit = client.gate().tryAcquire();
    if (permit == null) {
      slots.release();
      return null;
    }
    try {
      JdbcJobStore.Claim claim = store(() -> store.claimById(id, config.instanceId(), config.lease().toMillis()));
      if (claim == null) {
        permit.close();
        slots.release();
        return null;
      }
      return run(claim, permit);
    } catch (RuntimeException e) {
      permit.close();
      slots.release();
      throw e;
    }
  }

  @Override
  public Optional<Job> get(String owner, String id, boolean withBody) {
    return store(() -> store.get(owner, id, withBody));
  }

  @Override
  public Optional<Job> cancel(String owner, String id) {
    Optional<Job> job = store(() -> store.cancel(owner, id, config.resultTtl().toMillis()));
    if (job.isPresent() && job.get().status() == JobStatus.CANCELLING) {
      RunningJob r = running.get(id);
      if (r != null) {
        r.exchange.cancel(); // its end is written as cancelled: the row says cancelling
      }
    }
    return job;
  }

  @Override
  public boolean delete(String owner, String id) {
    boolean deleted = store(() -> store.delete(owner, id));
    if (deleted) {
      RunningJob r = running.get(id);
      if (r != null) {
        r.gone = true;
        r.exchange.cancel();
      }
    }
    return deleted;
  }

  @Override
  public JobPage list(String owner, int limit, String after, JobStatus status) {
    if (limit < 1 || limit > 100) {
      throw new IllegalArgumentException("limit must be between 1 and 100");
    }
    return store(() -> store.list(owner, limit, after, status));
  }

  @Override
  public Stats stats() {
    return new Stats(byStatus, running.size(), claims.get(), reclaimed.get(), leasesLost.get(), storeUp);
  }

  @Override
  public JobsConfig config() {
    return config;
  }

  @Override
  public void shutdown(Duration drain) {
    claiming = false;
    synchronized (claimLock) {
      // A claim in progress has registered its job by now; no new one starts.
    }
    long deadline = System.nanoTime() + drain.toNanos();
    for (RunningJob r : running.values()) {
      try {
        r.written.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (ExecutionException | TimeoutException e) {
        break; // the rest is given back by close()
      }
    }
    close();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (ScheduledFuture<?> t : tasks) {
      t.cancel(false);
    }
    synchronized (claimLock) {
      // A claim in progress has registered its job by now, and no new one starts (closed).
    }
    for (RunningJob r : running.values()) {
      r.giveBack = true;
      r.exchange.cancel();
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    for (RunningJob r : running.values()) {
      try {
        r.written.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (ExecutionException | TimeoutException e) {
        // its lease will lapse and another instance runs it again
      }
    }
    scheduler.shutdown();
    try {
      if (!scheduler.awaitTermination(5, TimeUnit.SECONDS)) {
        scheduler.shutdownNow();
      }
    } catch (InterruptedException e) {
      scheduler.shutdownNow();
      Thread.currentThread().interrupt();
    }
    if (keeper != null) {
      try {
        keeper.close();
      } catch (java.sql.SQLException e) {
        log.debug("jobs: closing the store connection failed", e);
      }
    }
    log.debug("jobs closed");
  }

  // ---- the worker ----------------------------------------------------------------------------

  private final class RunningJob {
    final JdbcJobStore.Claim claim;
    final CollectingSink sink;
    final UpstreamExchange exchange;
    final CompletableFuture<Void> written = new CompletableFuture<>();
    volatile boolean lost;
    volatile boolean gone;
    volatile boolean giveBack;
    int retries; // only the scheduler's threads, one at a time
    /** Set when its end is being written: a renewal then is not a lost lease. */
    volatile boolean finishing;

    RunningJob(JdbcJobStore.Claim claim, CollectingSink sink, UpstreamExchange exchange) {
      this.claim = claim;
      this.sink = sink;
      this.exchange = exchange;
    }
  }

  /** Asks for a poll soon (a job was stored or a slot freed). */
  private void wakeUp() {
    if (closed || !pollQueued.compareAndSet(false, true)) {
      return;
    }
    try {
      scheduler.execute(() -> {
        pollQueued.set(false);
        poll();
      });
    } catch (java.util.concurrent.RejectedExecutionException shutDown) {
      pollQueued.set(false);
    }
  }

  private void poll() {
    try {
      if (System.nanoTime() - claimsPausedUntil < 0) {
        return;
      }
      while (!closed && claiming && slots.tryAcquire()) {
        ConcurrencyGate.Permit permit = client.gate().tryAcquire();
        if (permit == null) {
          slots.release();
          return; // interactive requests use every permit; try again at the next poll
        }
        synchronized (claimLock) {
          if (closed || !claiming) {
            permit.close();
            slots.release();
            return;
          }
          JdbcJobStore.Claim claim;
          try {
            claim = store.claimNext(config.instanceId(), config.lease().toMillis());
          } catch (RuntimeException e) {
            permit.close();
            slots.release();
            throw e;
          }
          if (claim == null) {
            permit.close();
            slots.release();
            storeIsUp();
            return;
          }
          storeIsUp();
          run(claim, permit);
        }
      }
    } catch (JobStoreUnavailableException e) {
      storeIsDown(e);
    } catch (RuntimeException e) {
      log.error("jobs: polling failed", e);
    }
  }

  /** Starts a claimed job on the permit (and slot) the caller holds; both are released by its end. */
  private RunningJob run(JdbcJobStore.Claim claim, ConcurrencyGate.Permit permit) {
    claims.incrementAndGet();
    CollectingSink sink = new CollectingSink(client.config().maxResponseBytes());
    Optional<Endpoint> endpoint = Endpoint.forClientPath(claim.endpoint());
    byte[] body = claim.body() == null ? new byte[0] : claim.body();
    JsonBodies.RequestFields fields = JsonBodies.requestFields(body);
    String requestId = claim.id() + "-" + claim.attempts();
    ClientRequest request =
        new ClientRequest(
            endpoint.orElse(Endpoint.CHAT_COMPLETIONS),
            headers(claim.headers()),
            body,
            requestId,
            fields.model(),
            false,
            fields.models());
    UpstreamExchange exchange = client.newExchange(request, sink, permit);
    RunningJob job = new RunningJob(claim, sink, exchange);
    running.put(claim.id(), job);
    if (endpoint.isEmpty()) {
      exchange.cancel(); // a row this version cannot run; recorded as failed below
    }
    exchange.completion().whenComplete((result, never) -> finishLater(job, result, Duration.ZERO));
    exchange.start();
    log.debug("job {} started (attempt {})", claim.id(), claim.attempts());
    return job;
  }

  private void finishLater(RunningJob job, ExchangeResult result, Duration delay) {
    try {
      scheduler.schedule(() -> finish(job, result), delay.toMillis(), TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException shutDown) {
      running.remove(job.claim.id(), job);
      slots.release();
      job.written.complete(null);
    }
  }

  /** Writes a run's end (fenced), frees its slot and tells whoever waits. */
  private void finish(RunningJob job, ExchangeResult result) {
    JdbcJobStore.Claim claim = job.claim;
    long ttl = config.resultTtl().toMillis();
    CollectingSink sink = job.sink;
    job.finishing = true;
    try {
      boolean written;
      if (job.lost || job.gone) {
        written = true; // nothing to write: another holder has it, or it was deleted
      } else if (sink.complete && sink.status > 0 && !sink.tooLarge) {
        // A whole answer in hand is kept, even when it arrived as the service was closing.
        written = store.finish(claim, JobStatus.COMPLETED, sink.status, sink.contentType, sink.body(), null, null, ttl);
      } else if (job.giveBack || (sink.failure != null && TEMPORARY_REFUSALS.contains(sink.failure.code()))) {
        // Closing, or refused before any upstream attempt for a reason that passes (no permit
        // under the global cap, the shared state down, every route's breaker open): back to the
        // queue without counting the claim, to run again later.
        written = store.release(claim, ttl);
        if (!job.giveBack) {
          // Do not claim it straight back: whatever refused it needs a moment.
          claimsPausedUntil = System.nanoTime() + Math.max(config.pollInterval().toNanos(), REFUSAL_PAUSE.toNanos());
        }
      } else if (sink.failure != null) {
        written = store.finish(claim, JobStatus.FAILED, sink.failure.status(), "application/json",
            sink.failure.toJson(), sink.failure.code(), sink.failure.getMessage(), ttl);
      } else if (sink.tooLarge) {
        written = store.finish(claim, JobStatus.FAILED, null, null, null, "job_result_too_large",
            "The upstream response was larger than MAX_RESPONSE_BYTES.", ttl);
      } else if (Endpoint.forClientPath(claim.endpoint()).isEmpty()) {
        written = store.finish(claim, JobStatus.FAILED, null, null, null, "job_endpoint_unknown",
            "This relay cannot run jobs for " + claim.endpoint() + ".", ttl);
      } else {
        // Cancelled (the row says cancelling, so the store writes cancelled), or it broke off
        // after the response started.
        String code = result != null && result.errorCode() != null ? result.errorCode() : "job_cancelled";
        written = store.finish(claim, JobStatus.CANCELLED, null, null, null, code, "The job was cancelled.", ttl);
      }
      storeIsUp();
      if (!written && !job.giveBack) {
        leasesLost.incrementAndGet();
        log.warn("job {}: its lease was lost before it finished; the result of attempt {} was dropped",
            claim.id(), claim.attempts());
      }
    } catch (JobStoreUnavailableException e) {
      storeIsDown(e);
      if (!closed && job.retries++ < retriesWithinLease()) {
        finishLater(job, result, STORE_RETRY);
        return;
      }
      log.warn("job {}: its result could not be stored; it will run again when its lease lapses", claim.id());
    }
    running.remove(claim.id(), job);
    slots.release();
    job.written.complete(null);
    wakeUp();
  }

  private int retriesWithinLease() {
    return (int) Math.max(1, config.lease().toMillis() / STORE_RETRY.toMillis());
  }

  private void renewAll() {
    for (RunningJob job : running.values()) {
      if (job.lost || job.gone || job.finishing) {
        continue;
      }
      try {
        JdbcJobStore.Renewal r = store.renew(job.claim, config.lease().toMillis());
        storeIsUp();
        if (r == JdbcJobStore.Renewal.LOST && running.containsKey(job.claim.id())) {
          job.lost = true;
          leasesLost.incrementAndGet();
          log.warn("job {}: lease lost (attempt {}); stopping its run", job.claim.id(), job.claim.attempts());
          job.exchange.cancel();
        } else if (r == JdbcJobStore.Renewal.CANCEL_REQUESTED) {
          job.exchange.cancel();
        }
      } catch (JobStoreUnavailableException e) {
        storeIsDown(e);
        return;
      } catch (RuntimeException e) {
        log.error("jobs: renewing a lease failed", e);
      }
    }
  }

  private void sweep() {
    try {
      JdbcJobStore.Sweep s = store.sweep(config.maxAttempts(), config.resultTtl().toMillis());
      if (s.requeued() + s.exhausted() > 0) {
        reclaimed.addAndGet(s.requeued() + s.exhausted());
        log.info("jobs: {} lapsed lease(s) re-queued, {} job(s) out of attempts", s.requeued(), s.exhausted());
        wakeUp();
      }
      byStatus = store.countByStatus();
      storeIsUp();
    } catch (JobStoreUnavailableException e) {
      storeIsDown(e);
    } catch (RuntimeException e) {
      log.error("jobs: sweeping failed", e);
    }
  }

  private void storeIsUp() {
    if (!storeUp) {
      storeUp = true;
      log.info("jobs: the store {} answers again", where);
    }
  }

  private void storeIsDown(JobStoreUnavailableException e) {
    if (storeUp) {
      storeUp = false;
      log.warn("jobs: the store {} failed: {}", where, e.getMessage());
    }
  }

  private <T> T store(java.util.function.Supplier<T> call) {
    try {
      T t = call.get();
      storeIsUp();
      return t;
    } catch (JobStoreUnavailableException e) {
      storeIsDown(e);
      throw e;
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  static String newId() {
    byte[] bytes = new byte[16];
    RANDOM.nextBytes(bytes);
    return "job_" + HexFormat.of().formatHex(bytes);
  }

  private static String requestHash(JobSubmission s) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(s.endpoint().clientPath().getBytes(StandardCharsets.UTF_8));
      sha.update((byte) 0);
      sha.update(s.body());
      sha.update((byte) 0);
      if (s.metadata() != null) {
        sha.update(s.metadata().getBytes(StandardCharsets.UTF_8));
      }
      return HexFormat.of().formatHex(sha.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String storedHeaders(Map<String, List<String>> headers) {
    Map<String, List<String>> kept = new TreeMap<>();
    headers.forEach((name, values) -> {
      if (STORED_HEADERS.contains(name.toLowerCase(Locale.ROOT))) {
        kept.put(name, values);
      }
    });
    if (kept.isEmpty()) {
      return null;
    }
    try {
      return Json.MAPPER.writeValueAsString(kept);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Map<String, List<String>> headers(String json) {
    if (json == null) {
      return Map.of();
    }
    try {
      return Json.MAPPER.readValue(json, new TypeReference<LinkedHashMap<String, List<String>>>() {});
    } catch (IOException e) {
      return Map.of();
    }
  }

  /** A JDBC URL without user info or password, for messages and logs. */
  public static String redact(String url) {
    String s = url.replaceAll("(?i)(password|pwd|user)=[^&;]*", "$1=***");
    return s.replaceAll("//.*@", "//***@"); // up to the last '@': a password may hold '/'
  }

  /**
   * Creates the SQLite file's directory (owner-only) and the file itself with owner-only
   * permissions, before the driver would create it with the process umask. SQLite gives its
   * WAL and shared-memory files the database file's permissions.
   */
  private static void prepareSqliteFile(String url, String where) {
    String path = url.substring("jdbc:sqlite:".length());
    int query = path.indexOf('?');
    if (query >= 0) {
      path = path.substring(0, query);
    }
    if (path.isEmpty() || path.startsWith(":memory:") || path.startsWith("file:")) {
      return;
    }
    Path file = Path.of(path).toAbsolutePath();
    boolean posix = file.getFileSystem().supportedFileAttributeViews().contains("posix");
    try {
      Path dir = file.getParent();
      if (dir != null && !Files.isDirectory(dir)) {
        if (posix) {
          Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } else {
          Files.createDirectories(dir);
        }
      }
      if (!Files.exists(file)) {
        try {
          if (posix) {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
          } else {
            Files.createFile(file);
          }
        } catch (FileAlreadyExistsException raced) {
          // another process created it first
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException("the job store " + where + " cannot be created: " + e, e);
    }
  }
}
