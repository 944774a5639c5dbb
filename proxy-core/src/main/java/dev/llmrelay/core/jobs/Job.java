package dev.llmrelay.core.jobs;

import java.time.Instant;
import java.util.Optional;

/**
 * A snapshot of one job as stored: the job object of the job endpoints. Times are the store's
 * clock. Bodies are present only where the call that returned the job asked for them.
 *
 * @param id the job id, {@code job_} and 32 hex digits (128 random bits)
 * @param status where the job is
 * @param endpoint the proxied path it calls, such as {@code /v1/chat/completions}
 * @param model the request's {@code model}, or null
 * @param createdAt when it was stored
 * @param startedAt when it was first claimed, or null
 * @param completedAt when it reached a final status, or null
 * @param expiresAt when a queued job expires unless started, or when a finished job's result is
 *     removed
 * @param attempts how many times it was claimed
 * @param cancelRequestedAt when a cancel was asked for, or null
 * @param metadata the caller's metadata as a JSON object text, or null
 * @param response the stored upstream response, or null
 * @param error why it failed, was cancelled or expired, or null
 */
public record Job(
    String id,
    JobStatus status,
    String endpoint,
    String model,
    Instant createdAt,
    Instant startedAt,
    Instant completedAt,
    Instant expiresAt,
    int attempts,
    Instant cancelRequestedAt,
    String metadata,
    Response response,
    Error error) {

  /**
   * The upstream response a job ended with.
   *
   * @param statusCode the HTTP status
   * @param contentType its {@code Content-Type}, or null
   * @param body the body bytes, or null when omitted from this snapshot
   */
  public record Response(int statusCode, String contentType, byte[] body) {}

  /**
   * Why a job has no (successful) result.
   *
   * @param code a machine-readable code such as {@code job_attempts_exhausted}
   * @param message a sentence for people
   */
  public record Error(String code, String message) {}

  /** {@return the response, if it has one} */
  public Optional<Response> responseIfAny() {
    return Optional.ofNullable(response);
  }
}
