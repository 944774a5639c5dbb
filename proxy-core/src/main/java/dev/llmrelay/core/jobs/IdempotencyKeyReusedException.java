package dev.llmrelay.core.jobs;

/**
 * An {@code Idempotency-Key} already names a job of this owner whose request differs; the caller
 * answers 422 {@code idempotency_key_reused}.
 */
public final class IdempotencyKeyReusedException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  /** The job the key already names. */
  private final String jobId;

  /**
   * Creates the exception.
   *
   * @param jobId the job the key already names
   */
  public IdempotencyKeyReusedException(String jobId) {
    super("the Idempotency-Key was used for another request (job " + jobId + ")");
    this.jobId = jobId;
  }

  /** {@return the job the key already names} */
  public String jobId() {
    return jobId;
  }
}
