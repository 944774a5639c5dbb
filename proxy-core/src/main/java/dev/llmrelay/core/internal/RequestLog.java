package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.llmrelay.core.AttemptRecord;
import dev.llmrelay.core.ExchangeListener;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.TokenUsage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one line per finished request, on the SLF4J logger {@code dev.llmrelay.requests}, and, with
 * {@code LOG_DIR} set, the same record as one JSON object per line in daily files. Neither ever
 * holds a prompt, a completion or a key. Thread-safe.
 */
final class RequestLog implements ExchangeListener, AutoCloseable {
  static final Logger requestLog = LoggerFactory.getLogger("dev.llmrelay.requests");

  private final JsonLinesWriter jsonLines;
  /** Refused proxy keys: anyone can send them, so their records are written at a bounded rate. */
  private final LogRateLimiter refusals;

  /** @param jsonLines the JSON-lines writer, or null when {@code LOG_DIR} is not set */
  RequestLog(JsonLinesWriter jsonLines) {
    this(jsonLines, new LogRateLimiter(10, java.time.Duration.ofSeconds(10)));
  }

  RequestLog(JsonLinesWriter jsonLines, LogRateLimiter refusals) {
    this.jsonLines = jsonLines;
    this.refusals = refusals;
  }

  @Override
  public void exchangeFinished(ExchangeResult r) {
    String suppressed = "";
    if (r.status() == 401 && r.outcome() == dev.llmrelay.core.Outcome.REJECTED) {
      long skipped = refusals.tryAcquire();
      if (skipped < 0) {
        return; // counted by the stats and metrics; the log gets a bounded share
      }
      suppressed = skipped == 0 ? "" : " (" + skipped + " more refused keys not logged)";
    }
    // Path scanners probe all day: their 404/405 lines go to DEBUG so they do not drown the log.
    boolean noise = r.outcome() == dev.llmrelay.core.Outcome.REJECTED && (r.status() == 404 || r.status() == 405);
    if (noise ? requestLog.isDebugEnabled() : requestLog.isInfoEnabled()) {
      TokenUsage t = r.tokens();
      org.slf4j.event.Level level = noise ? org.slf4j.event.Level.DEBUG : org.slf4j.event.Level.INFO;
      requestLog.atLevel(level).log(
          "request {} {} {} model={} stream={} status={} outcome={}{} attempts={}{} wait={}ms headers={} total={}ms bytes={}{}{}{}{}",
          r.requestId(),
          r.method(),
          r.path(),
          clean(r.model()),
          r.streamed() || r.streamRequested(),
          r.status(),
          r.outcome().name().toLowerCase(Locale.ROOT),
          r.errorCode() == null ? "" : " code=" + r.errorCode(),
          r.attemptSummary(),
          r.stopReason() == null ? "" : " stopped=" + r.stopReason(),
          r.queueWait().toMillis(),
          millis(r.timeToHeaders()),
          r.total().toMillis(),
          r.bytesOut(),
          t == null ? "" : " tokens=" + t.promptTokens() + "/" + t.completionTokens(),
          r.clientGonePhase() != null
              ? " client_gone=" + r.clientGonePhase()
              : r.midStreamCause() != null ? " midstream=" + r.midStreamCause() : "",
          r.continuations().isEmpty() ? "" : " continued=" + String.join(",", r.continuations()),
          suppressed);
    }
    if (jsonLines != null) {
      jsonLines.offer(Instant.now(), toJson(r));
    }
  }

  /** A client-supplied value made safe for a log line: no control characters, at most 128 chars. */
  static String clean(String value) {
    if (value == null) {
      return null;
    }
    StringBuilder out = new StringBuilder(Math.min(value.length(), 128));
    for (int i = 0; i < value.length() && out.length() < 128; i++) {
      char c = value.charAt(i);
      out.append(Character.isISOControl(c) ? '?' : c);
    }
    return value.length() > 128 ? out.append("...").toString() : out.toString();
  }

  /** Records dropped by the JSON writer because its queue was full. */
  long dropped() {
    return jsonLines == null ? 0 : jsonLines.dropped();
  }

  @Override
  public void close() {
    if (jsonLines != null) {
      jsonLines.close();
    }
  }

  private static String millis(Duration d) {
    return d == null ? "-" : d.toMillis() + "ms";
  }

  /** The JSON record of one request, without a trailing newline. */
  static byte[] toJson(ExchangeResult r) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(512);
    try (JsonGenerator json = Json.FACTORY.createGenerator(out)) {
      json.writeStartObject();
      json.writeStringField("ts", Instant.now().toString());
      json.writeStringField("request_id", r.requestId());
      json.writeStringField("method", r.method());
      json.writeStringField("path", r.path());
      json.writeStringField("model", clean(r.model()));
      json.writeBooleanField("stream", r.streamed() || r.streamRequested());
      json.writeNumberField("status", r.status());
      json.writeStringField("outcome", r.outcome().name().toLowerCase(Locale.ROOT));
      json.writeStringField("error_code", r.errorCode());
      json.writeNumberField("attempts", r.attempts());
      json.writeArrayFieldStart("attempt_trail");
      for (AttemptRecord a : r.attemptTrail()) {
        json.writeStartObject();
        json.writeNumberField("n", a.number());
        json.writeStringField("result", a.result());
        json.writeNumberField("ms", a.duration().toMillis());
        if (a.upstream() != null) {
          json.writeStringField("route", a.route());
          json.writeStringField("upstream", a.upstream());
          json.writeStringField("model", a.model());
        }
        json.writeEndObject();
      }
      json.writeEndArray();
      json.writeStringField("stop_reason", r.stopReason());
      json.writeNumberField("queue_wait_ms", r.queueWait().toMillis());
      writeMillis(json, "time_to_headers_ms", r.timeToHeaders());
      writeMillis(json, "time_to_first_event_ms", r.timeToFirstEvent());
      json.writeNumberField("total_ms", r.total().toMillis());
      json.writeNumberField("bytes_out", r.bytesOut());
      if (r.tokens() == null) {
        json.writeNullField("tokens");
      } else {
        json.writeObjectFieldStart("tokens");
        json.writeNumberField("prompt", r.tokens().promptTokens());
        json.writeNumberField("completion", r.tokens().completionTokens());
        json.writeNumberField("total", r.tokens().totalTokens());
        json.writeEndObject();
      }
      json.writeStringField("client_gone_phase", r.clientGonePhase());
      json.writeStringField("midstream_cause", r.midStreamCause());
      json.writeArrayFieldStart("continuations");
      for (String c : r.continuations()) {
        json.writeString(c);
      }
      json.writeEndArray();
      json.writeEndObject();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static void writeMillis(JsonGenerator json, String name, Duration d) throws IOException {
    if (d == null) {
      json.writeNullField(name);
    } else {
      json.writeNumberField(name, d.toMillis());
    }
  }
}
