package dev.llmrelay.core.jobs;

/**
 * The store holds {@code JOB_MAX_QUEUED} queued jobs already; the caller answers 429 {@code
 * job_queue_full} with {@code Retry-After}. Nothing was stored.
 */
public final class JobQueueFullException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param queued the queued jobs counted
   */
  public JobQueueFullException(int queued) {
    super(queued + " jobs are queued already");
  }
}
