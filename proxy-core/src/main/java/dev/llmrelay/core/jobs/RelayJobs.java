package dev.llmrelay.core.jobs;

import dev.llmrelay.core.UpstreamClient;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * Durable asynchronous jobs: requests a client hands off ({@code Prefer: respond-async}), stored
 * before they are acknowledged, run at least once through the same {@link UpstreamClient} path as
 * interactive requests (retries, failover, breakers, limits), with their result written exactly
 * once and kept for {@code JOB_RESULT_TTL_SECONDS}.
 *
 * <p>Running: an instance claims a queued job only when it has a free job slot ({@code
 * JOB_MAX_CONCURRENT}) and can take one of the client's permits without waiting, so jobs never
 * queue behind or in front of interactive requests, and queued jobs hold neither a permit nor a
 * thread. A claim is a lease ({@code JOB_LEASE_SECONDS}) that the instance renews while the job
 * runs; when an instance dies, its leases lapse and another instance (or this one, restarted)
 * runs the job again, up to {@code JOB_MAX_ATTEMPTS} claims. Only the current lease holder can
 * write a result. With PostgreSQL, every time is the database server's clock.
 *
 * <p>Stores: SQLite ({@code jdbc:sqlite:FILE}, embedded, the default; WAL with full sync; a new
 * file gets owner-only permissions) or PostgreSQL ({@code jdbc:postgresql://...}, shared by
 * several instances). The table {@code llmrelay_jobs} is created when missing. Stored per job: the
 * endpoint, the body, an allowlist of harmless headers, the owner's key hash, the metadata and the
 * result; never {@code Authorization}, cookies or proxy keys.
 *
 * <p>Thread-safe. Every method may block on the database, within bounds: 10 s per statement, and
 * for PostgreSQL (unless {@code JOB_STORE_URL} sets its own) {@code connectTimeout} and {@code
 * loginTimeout} of 10 s and a {@code socketTimeout} of 30 s, so a database that accepts
 * connections but never answers fails a call rather than hanging it. A {@link DataSource} of your
 * own should be configured likewise. Call the methods from threads that may block. Methods that reach the store throw {@link
 * JobStoreUnavailableException} when it fails (see there for what may have been written).
 */
public interface RelayJobs extends AutoCloseable {

  /**
   * Opens the store named by {@code config} (creating the SQLite file and the table when missing)
   * and starts running jobs through {@code client}.
   *
   * @param client the relay's client; jobs share its permits, routes and breakers. Not closed by
   *     {@link #close()}
   * @param config the job settings
   * @return the running job service
   * @throws IllegalStateException naming the store (without credentials) when its driver is
   *     missing or it cannot be reached
   */
  static RelayJobs start(UpstreamClient client, JobsConfig config) {
    return dev.llmrelay.core.internal.jobs.RealRelayJobs.start(client, config, null);
  }

  /**
   * Like {@link #start(UpstreamClient, JobsConfig)}, on a {@link DataSource} of the caller's (a
   * connection pool, say) instead of the one {@code JOB_STORE_URL} names; the URL still tells
   * which dialect it speaks. The data source is not closed by {@link #close()}.
   *
   * @param client the relay's client
   * @param config the job settings
   * @param dataSource connections to the store
   * @return the running job service
   * @throws IllegalStateException naming the store when it cannot be reached
   */
  static RelayJobs start(UpstreamClient client, JobsConfig config, DataSource dataSource) {
    return dev.llmrelay.core.internal.jobs.RealRelayJobs.start(client, config, dataSource);
  }

  /**
   * Stores a job, committed before this returns. With an {@code Idempotency-Key} that the owner
   * used before for the same endpoint and body, the existing job is returned instead ({@link
   * Submitted#replayed()}).
   *
   * @param submission the validated request
   * @return the job (without bodies)
   * @throws IdempotencyKeyReusedException when the key names a job with another request
   * @throws JobQueueFullException when {@code JOB_MAX_QUEUED} jobs are queued already
   * @throws JobStoreUnavailableException when the store failed; nothing was stored
   */
  Submitted submit(JobSubmission submission);

  /**
   * Starts the queued job {@code id} on this instance at once if a job slot and a permit are free
   * ({@code Prefer: respond-async, wait=N}), and waits up to {@code wait} for it to finish.
   *
   * @param owner the job's owner
   * @param id the job
   * @param wait how long to wait for it to finish
   * @return the finished job with its response body, or empty when it did not finish in time (or
   *     could not start here at once); it goes on as a job either way
   * @throws InterruptedException when the waiting thread is interrupted
   */
  Optional<Job> runNow(String owner, String id, Duration wait) throws InterruptedException;

  /**
   * The owner's job.
   *
   * @param owner the owner
   * @param id the job id
   * @param withBody whether to read the stored response body
   * @return the job, or empty when the owner has no such job
   */
  Optional<Job> get(String owner, String id, boolean withBody);

  /**
   * Cancels the owner's job: a queued one becomes {@code cancelled} and never reaches the
   * upstream; a running one becomes {@code cancelling} and its upstream call is aborted (at once
   * on this instance, within a third of a lease on another), then {@code cancelled}. A finished
   * job is left as it is. Idempotent.
   *
   * @param owner the owner
   * @param id the job id
   * @return the job after the cancel, or empty when the owner has no such job
   */
  Optional<Job> cancel(String owner, String id);

  /**
   * Deletes the owner's job with its prompt and result; a running one is stopped.
   *
   * @param owner the owner
   * @param id the job id
   * @return true if it existed
   */
  boolean delete(String owner, String id);

  /**
   * The owner's jobs, newest first, without bodies.
   *
   * @param owner the owner
   * @param limit jobs per page, 1 to 100
   * @param after the last job id of the previous page, or null for the first page
   * @param status only jobs with this status, or null for all
   * @return the page
   */
  JobPage list(String owner, int limit, String after, JobStatus status);

  /**
   * Counts for metrics: jobs per status in the store (as of the last sweep), and this instance's
   * claims, lapsed leases it re-queued and leases it lost.
   *
   * @return a snapshot
   */
  Stats stats();

  /** {@return the settings} */
  JobsConfig config();

  /**
   * A graceful stop: claims no new job, lets the jobs running here finish for up to {@code
   * drain} (their leases renewed meanwhile), then {@link #close()}s, which gives back whatever
   * still runs. A job that finishes here is not run again elsewhere, so the upstream is not
   * called twice for it.
   *
   * @param drain how long running jobs may take to finish
   */
  void shutdown(Duration drain);

  /**
   * Stops claiming, aborts the jobs running here and gives them back to the queue (a job given
   * back does not count as an attempt; it runs again, here after a restart or on another
   * instance), and stops the background threads. Idempotent.
   */
  @Override
  void close();

  /**
   * Counters of one instance and the store's job counts.
   *
   * @param byStatus jobs in the store per status, as of the last sweep
   * @param running jobs running on this instance now
   * @param claims claims this instance made
   * @param reclaimed lapsed leases this instance's sweeps re-queued (or failed, out of attempts)
   * @param leasesLost runs this instance stopped because its lease was gone
   * @param storeUp whether the store answered the last call
   */
  record Stats(Map<JobStatus, Long> byStatus, int running, long claims, long reclaimed, long leasesLost, boolean storeUp) {}
}
