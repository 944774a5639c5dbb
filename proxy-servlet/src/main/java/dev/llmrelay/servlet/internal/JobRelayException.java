package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.jobs.IdempotencyKeyReusedException;
import dev.llmrelay.core.jobs.Job;
import dev.llmrelay.core.jobs.JobQueueFullException;
import dev.llmrelay.core.jobs.JobStoreUnavailableException;
import java.time.Duration;

/**
 * The answers of the job endpoints that are errors, each with its status and code (README "Durable
 * async jobs"); {@link #of} is the one place that turns the job service's exceptions into statuses.
 * Rendered by {@link ErrorResponses} like every other error. Immutable and thread-safe.
 */
public final class JobRelayException extends RelayException {
  private static final long serialVersionUID = 1L;
  /** How long a client should wait before it asks a failed store again. */
  static final Duration STORE_RETRY_AFTER = Duration.ofSeconds(5);
  /** How long a client should wait before it submits to a full queue again. */
  static final Duration QUEUE_RETRY_AFTER = Duration.ofSeconds(30);

  private JobRelayException(int status, String code, String message, Duration retryAfter, Throwable cause) {
    super(status, code, message, retryAfter, retryAfter != null, 0, cause);
  }

  /** 404 {@code job_not_found}: no such job, or another owner's. */
  public static JobRelayException notFound() {
    return new JobRelayException(404, "job_not_found", "No such job.", null, null);
  }

  /** 404 {@code not_found}: the job endpoints of a relay without jobs. */
  public static JobRelayException jobsOff() {
    return new JobRelayException(404, "not_found", "Jobs are not enabled on this relay (JOBS_ENABLED).", null, null);
  }

  /** 409 {@code job_cancelled}: the result of a job that was cancelled. */
  public static JobRelayException cancelled() {
    return new JobRelayException(409, "job_cancelled", "The job was cancelled; it has no result.", null, null);
  }

  /** 410 {@code job_expired}: the result of a job that expired. */
  public static JobRelayException expired(Job job) {
    String message = job.error() != null && job.error().message() != null
        ? job.error().message()
        : "The job expired; it has no result.";
    return new JobRelayException(410, "job_expired", message, null, null);
  }

  /** 502 with the job's own code: the result of a job that failed without an upstream response. */
  public static JobRelayException failed(Job job) {
    String code = job.error() != null && job.error().code() != null ? job.error().code() : "job_failed";
    String message = job.error() != null && job.error().message() != null ? job.error().message() : "The job failed.";
    return new JobRelayException(502, code, message, null, null);
  }

  /** 400 {@code async_stream_not_supported}: a job may not ask for a stream. */
  public static JobRelayException streamNotSupported() {
    return new JobRelayException(400, "async_stream_not_supported",
        "Jobs (Prefer: respond-async) cannot stream; send \"stream\": false or call synchronously.", null, null);
  }

  /** 400 {@code async_requires_upstream_key}: without UPSTREAM_API_KEY a job would need the client's own key. */
  public static JobRelayException requiresUpstreamKey() {
    return new JobRelayException(400, "async_requires_upstream_key",
        "Jobs (Prefer: respond-async) need UPSTREAM_API_KEY on the relay: the client's own key is never stored.",
        null, null);
  }

  /** 400 {@code invalid_parameter}: a query parameter, header or field of a job request is invalid. */
  public static JobRelayException invalidParameter(String message) {
    return new JobRelayException(400, "invalid_parameter", message, null, null);
  }

  /**
   * The client's answer to an exception of the job service: 503 {@code job_store_unavailable}, 422
   * {@code idempotency_key_reused} or 429 {@code job_queue_full}; null for anything else (a bug,
   * answered as an internal error by the caller).
   *
   * @param e what the job service threw
   * @return the answer, or null
   */
  public static JobRelayException of(RuntimeException e) {
    if (e instanceof JobStoreUnavailableException) {
      return new JobRelayException(503, "job_store_unavailable",
          "The job store is unavailable; nothing was stored. Retry later.", STORE_RETRY_AFTER, e);
    }
    if (e instanceof IdempotencyKeyReusedException) {
      return new JobRelayException(422, "idempotency_key_reused",
          "This Idempotency-Key was used for a different request.", null, e);
    }
    if (e instanceof JobQueueFullException) {
      return new JobRelayException(429, "job_queue_full",
          "Too many jobs are queued (JOB_MAX_QUEUED). Retry later.", QUEUE_RETRY_AFTER, e);
    }
    return null;
  }
}
