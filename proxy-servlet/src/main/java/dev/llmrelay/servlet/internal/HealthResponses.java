package dev.llmrelay.servlet.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.llmrelay.core.HealthReport;
import dev.llmrelay.core.RelayStats;
import dev.llmrelay.core.RouteStatus;
import dev.llmrelay.core.UpstreamHealth;
import java.util.List;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Optional;

/**
 * Renders the two health answers of DESIGN.md §3. {@code GET /health}: {@code {"status":"ok",...}}
 * with the gate's numbers. {@code GET /health/upstream}: {@code {"status":"ok","upstream":
 * "reachable","response_time_ms":N}} with 200, or {@code {"status":"error","upstream":"timeout|
 * unreachable|http_error","response_time_ms":N,"message":"...","http_status":N}} with 503 ({@code
 * http_status} for {@code http_error} only). As a last line of defence the upstream key is masked
 * should it ever appear in a probe's message. Stateless and thread-safe.
 */
public final class HealthResponses {
  private static final JsonFactory JSON = new JsonFactory();

  private HealthResponses() {}

  /** The liveness body: the proxy answers, plus how busy its gate is. */
  public static byte[] liveness(RelayStats stats, int maxConcurrent) {
    return render(json -> {
      json.writeStringField("status", "ok");
      json.writeNumberField("max_concurrent", maxConcurrent);
      json.writeNumberField("permits_available", stats.permitsAvailable());
      json.writeNumberField("in_flight", stats.inFlight());
      json.writeNumberField("queued", stats.queued());
    });
  }

  /** The upstream answer for a probe report; the key, if given, is masked in its message. */
  public static byte[] upstream(HealthReport report, Optional<String> upstreamKey) {
    return upstream(report, upstreamKey.map(List::of).orElse(List.of()), List.of());
  }

  /**
   * The upstream answer: the overall report's fields (the first reachable upstream's, else the
   * primary's) and, with several upstreams or fallbacks, an {@code upstreams} array with each
   * upstream's probe and the state of its routes' circuit breakers and learned timeouts. Every
   * key in {@code keys} is masked should it ever appear in a message.
   */
  public static byte[] upstream(HealthReport report, List<String> keys, List<UpstreamHealth> each) {
    return render(json -> {
      json.writeStringField("status", report.healthy() ? "ok" : "error");
      writeReport(json, report, keys);
      if (!each.isEmpty()) {
        json.writeArrayFieldStart("upstreams");
        for (UpstreamHealth u : each) {
          json.writeStartObject();
          json.writeStringField("name", u.name());
          json.writeStringField("base_url", u.baseUrl());
          json.writeStringField("status", u.report().healthy() ? "ok" : "error");
          writeReport(json, u.report(), keys);
          json.writeArrayFieldStart("routes");
          for (RouteStatus r : u.routes()) {
            json.writeStartObject();
            json.writeStringField("model", r.model());
            json.writeStringField("breaker", r.breaker());
            json.writeNumberField("retry_in_ms", r.retryIn().toMillis());
            json.writeNumberField("attempt_timeout_ms", r.attemptTimeout().toMillis());
            json.writeNumberField("successful_attempts", r.successfulAttempts());
            json.writeEndObject();
          }
          json.writeEndArray();
          json.writeEndObject();
        }
        json.writeEndArray();
      }
    });
  }

  private static void writeReport(JsonGenerator json, HealthReport report, List<String> keys) throws IOException {
    json.writeStringField("upstream", report.upstream().wireName());
    json.writeNumberField("response_time_ms", report.responseTimeMillis());
    if (!report.healthy()) {
      String message = report.message() == null ? "" : report.message();
      for (String key : keys) {
        if (!key.isEmpty()) {
          message = message.replace(key, "****");
        }
      }
      json.writeStringField("message", message);
      if (report.upstream() == HealthReport.State.HTTP_ERROR) {
        json.writeNumberField("http_status", report.httpStatus());
      }
    }
  }

  /** Writes a complete JSON health response. */
  public static void write(HttpServletResponse response, int status, byte[] body, String requestId)
      throws IOException {
    response.setStatus(status);
    response.setContentType("application/json");
    response.setHeader("Cache-Control", "no-store");
    response.setHeader("X-Request-Id", requestId);
    response.setContentLength(body.length);
    ServletOutputStream out = response.getOutputStream();
    out.write(body);
    out.flush();
  }

  private interface Fields {
    void write(JsonGenerator json) throws IOException;
  }

  private static byte[] render(Fields fields) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(128);
    try (JsonGenerator json = JSON.createGenerator(out)) {
      json.writeStartObject();
      fields.write(json);
      json.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
