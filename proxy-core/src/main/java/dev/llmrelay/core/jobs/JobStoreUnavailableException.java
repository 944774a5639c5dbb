package dev.llmrelay.core.jobs;

/**
 * The job store could not be read or written (the database is down, its file read-only, a
 * timeout); the caller answers 503 {@code job_store_unavailable} with {@code Retry-After}. A
 * submission stores its job and reads it back in one statement, so a submission that threw stored
 * nothing. A cancel or delete whose connection broke after its write may have taken effect:
 * repeating it is safe.
 */
public final class JobStoreUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what failed, without credentials
   * @param cause the driver's exception
   */
  public JobStoreUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
