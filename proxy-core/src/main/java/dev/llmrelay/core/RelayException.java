package dev.llmrelay.core;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * Root of every failure the proxy itself answers for. Each subtype is one failure kind and knows
 * the HTTP status, the OpenAI-style {@code code}, and whether the client should retry.
 *
 * <p>The proxy renders these as OpenAI-shaped error bodies:
 * {@code {"error":{"message":"...","type":"proxy_error","param":null,"code":"..."}}} (see
 * {@link #toJson()}). Exceptions are created without stack traces: they describe an outcome, not
 * a programming error, and are cheap to create under load.
 *
 * <p>Instances are immutable and thread-safe.
 */
public class RelayException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private static final JsonFactory JSON = new JsonFactory();

  /** The HTTP status the client receives. */
  private final int status;
  /** The OpenAI-style {@code error.code}. */
  private final String code;
  /** The {@code Retry-After} the client receives, or null. */
  private final Duration retryAfter;
  /** False when the client is told not to retry. */
  private final boolean shouldRetry;
  /** Upstream attempts made before this outcome. */
  private final int attempts;

  /**
   * Creates an error.
   *
   * @param status the HTTP status the client receives
   * @param code the OpenAI-style {@code error.code}, never null
   * @param message a human-readable explanation, never null; it must never contain a key
   * @param retryAfter when set, the {@code Retry-After} the client receives
   * @param shouldRetry false marks the response with {@code x-should-retry: false}
   * @param attempts how many upstream attempts were made before this outcome
   * @param cause the underlying failure, or null
   */
  protected RelayException(
      int status,
      String code,
      String message,
      Duration retryAfter,
      boolean shouldRetry,
      int attempts,
      Throwable cause) {
    super(Objects.requireNonNull(message, "message"), cause, false, false);
    this.status = status;
    this.code = Objects.requireNonNull(code, "code");
    this.retryAfter = retryAfter;
    this.shouldRetry = shouldRetry;
    this.attempts = attempts;
  }

  /** {@return the HTTP status the client receives} */
  public final int status() {
    return status;
  }

  /** {@return the OpenAI-style {@code error.code}, for example {@code concurrency_limit}} */
  public final String code() {
    return code;
  }

  /**
   * {@return the {@code Retry-After} the client should honour, if any (whole seconds when
   * rendered)}
   */
  public final Optional<Duration> retryAfter() {
    return Optional.ofNullable(retryAfter);
  }

  /**
   * False when the proxy has already exhausted its own retries, so that SDKs that honour {@code
   * x-should-retry} do not multiply the attempts.
   *
   * @return whether the client may retry
   */
  public final boolean shouldRetry() {
    return shouldRetry;
  }

  /** {@return how many upstream attempts were made before this outcome (0 when none was)} */
  public final int attempts() {
    return attempts;
  }

  /** {@return the OpenAI-shaped JSON body for this error, UTF-8} */
  public final byte[] toJson() {
    return errorJson(getMessage(), "proxy_error", code);
  }

  /**
   * Renders an OpenAI-shaped error body. Shared by every place that writes an error so that the
   * shape is defined once.
   */
  static byte[] errorJson(String message, String type, String code) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(128);
    try (JsonGenerator json = JSON.createGenerator(out)) {
      json.writeStartObject();
      json.writeObjectFieldStart("error");
      json.writeStringField("message", message);
      json.writeStringField("type", type);
      json.writeNullField("param");
      json.writeStringField("code", code);
      json.writeEndObject();
      json.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  @Override
  public String toString() {
    return getClass().getSimpleName() + "(" + status + " " + code + "): " + getMessage();
  }
}
