package dev.llmrelay.servlet.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.llmrelay.core.HealthReport;
import dev.llmrelay.core.RelayStats;
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
    return render(json -> {
      json.writeStringField("status", report.healthy() ? "ok" : "error");
      json.writeStringField("upstream", report.upstream().wireName());
      json.writeNumberField("response_time_ms", report.responseTimeMillis());
      if (!report.healthy()) {
        String message = report.message() == null ? "" : report.message();
        if (upstreamKey.isPresent() && !upstreamKey.get().isEmpty()) {
          message = message.replace(upstreamKey.get(), "****");
        }
        json.writeStringField("message", message);
        if (report.upstream() == HealthReport.State.HTTP_ERROR) {
          json.writeNumberField("http_status", report.httpStatus());
        }
      }
    });
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
