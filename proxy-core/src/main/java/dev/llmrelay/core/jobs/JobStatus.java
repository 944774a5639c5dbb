package dev.llmrelay.core.jobs;

import java.util.Locale;

/** Where a job is in its life, spelled as in the job object's {@code status}. */
public enum JobStatus {
  /** Stored, waiting for a free job slot and a permit. */
  QUEUED,
  /** Claimed by an instance that runs it under a lease. */
  IN_PROGRESS,
  /** Finished with an upstream response (whatever its status code). */
  COMPLETED,
  /** Finished without an upstream response: the relay's own error, or its attempts ran out. */
  FAILED,
  /** A cancel was asked for while it ran; the running instance is stopping it. */
  CANCELLING,
  /** Cancelled before it finished; it has no result. */
  CANCELLED,
  /** Not started within {@code JOB_MAX_QUEUE_SECONDS}, or its result outlived {@code JOB_RESULT_TTL_SECONDS}. */
  EXPIRED;

  /** {@return the name in the job object, such as {@code in_progress}} */
  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** {@return true when the job will not change any more (apart from expiring)} */
  public boolean terminal() {
    return this == COMPLETED || this == FAILED || this == CANCELLED || this == EXPIRED;
  }

  /**
   * The status with this wire name.
   *
   * @param wireName such as {@code queued}
   * @return the status
   * @throws IllegalArgumentException for an unknown name
   */
  public static JobStatus fromWireName(String wireName) {
    for (JobStatus s : values()) {
      if (s.wireName().equals(wireName)) {
        return s;
      }
    }
    throw new IllegalArgumentException("unknown job status \"" + wireName + "\"");
  }
}
