package dev.llmrelay.core.jobs;

/**
 * The job store could not be read or written (the database is down, its file read-only, a
 * timeout). Nothing was committed by the call that threw it; the caller answers 503 {@code
 * job_store_unavailable} with {@code Retry-After}.
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
