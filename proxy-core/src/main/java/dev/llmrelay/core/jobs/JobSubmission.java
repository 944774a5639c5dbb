package dev.llmrelay.core.jobs;

import dev.llmrelay.core.Endpoint;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A request handed off to run later, as validated by the caller.
 *
 * @param owner whose job it is: a hash of the inbound key (never the key), or one fixed name
 *     when the relay checks no keys; jobs are visible only to their owner
 * @param endpoint the proxied endpoint to call
 * @param headers the client's end-to-end headers; only a fixed allowlist of them (such as {@code
 *     HTTP-Referer}, {@code X-Title}, {@code OpenAI-Organization}) is stored, never {@code
 *     Authorization}, cookies or proxy keys
 * @param body the request body (JSON); not copied
 * @param model the request's {@code model}, or null
 * @param metadata the caller's metadata as a JSON object text, or null
 * @param idempotencyKey the {@code Idempotency-Key}, or null
 */
public record JobSubmission(
    String owner,
    Endpoint endpoint,
    Map<String, List<String>> headers,
    byte[] body,
    String model,
    String metadata,
    String idempotencyKey) {

  /**
   * Checks the required parts.
   *
   * @param owner whose job it is
   * @param endpoint the proxied endpoint to call
   * @param headers the client's end-to-end headers (only an allowlist is stored)
   * @param body the request body
   * @param model the request's {@code model}, or null
   * @param metadata the caller's metadata as a JSON object text, or null
   * @param idempotencyKey the {@code Idempotency-Key}, or null
   */
  public JobSubmission {
    Objects.requireNonNull(owner, "owner");
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(body, "body");
    headers = headers == null ? Map.of() : headers;
  }
}
