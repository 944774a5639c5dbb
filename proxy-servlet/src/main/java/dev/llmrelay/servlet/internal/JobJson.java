package dev.llmrelay.servlet.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.llmrelay.core.jobs.Job;
import dev.llmrelay.core.jobs.JobPage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;

/**
 * The job endpoints' JSON, in OpenAI's spelling: the job object ({@code "object": "relay.job"},
 * times as Unix seconds or null), the list ({@code "object": "list"}) and the deletion answer.
 * A stored response body is embedded as JSON when it is one JSON value, else as a string; bodies
 * the snapshot does not carry are null. Stateless and thread-safe.
 */
public final class JobJson {
  private static final JsonFactory JSON = new JsonFactory();

  private JobJson() {}

  /** {@return the job object} */
  public static byte[] job(Job job) {
    return write(g -> writeJob(g, job));
  }

  /** {@return the list object of a page: data, first_id, last_id, has_more} */
  public static byte[] list(JobPage page) {
    return write(g -> {
      g.writeStartObject();
      g.writeStringField("object", "list");
      g.writeArrayFieldStart("data");
      for (Job job : page.jobs()) {
        writeJob(g, job);
      }
      g.writeEndArray();
      List<Job> jobs = page.jobs();
      nullable(g, "first_id", jobs.isEmpty() ? null : jobs.get(0).id());
      nullable(g, "last_id", jobs.isEmpty() ? null : jobs.get(jobs.size() - 1).id());
      g.writeBooleanField("has_more", page.hasMore());
      g.writeEndObject();
    });
  }

  /** {@return the answer to a deletion} */
  public static byte[] deleted(String id) {
    return write(g -> {
      g.writeStartObject();
      g.writeStringField("id", id);
      g.writeStringField("object", "relay.job.deleted");
      g.writeBooleanField("deleted", true);
      g.writeEndObject();
    });
  }

  private static void writeJob(JsonGenerator g, Job job) throws IOException {
    g.writeStartObject();
    g.writeStringField("id", job.id());
    g.writeStringField("object", "relay.job");
    g.writeStringField("status", job.status().wireName());
    g.writeStringField("endpoint", job.endpoint());
    nullable(g, "model", job.model());
    time(g, "created_at", job.createdAt());
    time(g, "started_at", job.startedAt());
    time(g, "completed_at", job.completedAt());
    time(g, "expires_at", job.expiresAt());
    g.writeNumberField("attempts", job.attempts());
    time(g, "cancel_requested_at", job.cancelRequestedAt());
    g.writeFieldName("metadata");
    if (job.metadata() == null) {
      g.writeNull();
    } else {
      g.writeRawValue(job.metadata()); // stored as validated JSON object text
    }
    g.writeFieldName("response");
    Job.Response response = job.response();
    if (response == null) {
      g.writeNull();
    } else {
      g.writeStartObject();
      g.writeNumberField("status_code", response.statusCode());
      g.writeFieldName("body");
      body(g, response.body());
      g.writeEndObject();
    }
    g.writeFieldName("error");
    if (job.error() == null) {
      g.writeNull();
    } else {
      g.writeStartObject();
      nullable(g, "code", job.error().code());
      nullable(g, "message", job.error().message());
      g.writeEndObject();
    }
    g.writeEndObject();
  }

  private static void body(JsonGenerator g, byte[] body) throws IOException {
    if (body == null) {
      g.writeNull();
    } else if (isOneJsonValue(body)) {
      g.writeRawValue(new String(body, StandardCharsets.UTF_8));
    } else {
      g.writeString(new String(body, StandardCharsets.UTF_8));
    }
  }

  /** True when {@code body} is exactly one JSON value (checked by streaming, no tree is built). */
  static boolean isOneJsonValue(byte[] body) {
    try (JsonParser p = JSON.createParser(body)) {
      if (p.nextToken() == null) {
        return false;
      }
      p.skipChildren();
      return p.nextToken() == null;
    } catch (IOException e) {
      return false;
    }
  }

  private static void time(JsonGenerator g, String name, Instant t) throws IOException {
    if (t == null) {
      g.writeNullField(name);
    } else {
      g.writeNumberField(name, t.getEpochSecond());
    }
  }

  private static void nullable(JsonGenerator g, String name, String value) throws IOException {
    if (value == null) {
      g.writeNullField(name);
    } else {
      g.writeStringField(name, value);
    }
  }

  private interface Body {
    void write(JsonGenerator g) throws IOException;
  }

  private static byte[] write(Body body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(512);
    try (JsonGenerator g = JSON.createGenerator(out)) {
      body.write(g);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }
}
