package dev.llmrelay.servlet.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.InternalRelayException;
import dev.llmrelay.core.RelayClosedException;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.jobs.Job;
import dev.llmrelay.core.jobs.JobPage;
import dev.llmrelay.core.jobs.JobStatus;
import dev.llmrelay.core.jobs.JobSubmission;
import dev.llmrelay.core.jobs.RelayJobs;
import dev.llmrelay.core.jobs.Submitted;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The servlet side of durable jobs: submissions ({@code Prefer: respond-async} on a proxied
 * {@code POST}, or the explicit {@code POST /v1/relay/jobs}) and the job endpoints ({@link
 * JobRoute}). Requests arrive here validated as on the synchronous path (proxy key, size, JSON);
 * what is left to check is checked before anything is stored, and every store call runs through
 * {@link StoreCalls}, never on a pooled platform container thread. Each answer goes out through
 * the request's {@link ServletResponseSink}, which completes its async context; each error through
 * {@link ErrorResponses} and {@link UpstreamClient#recordRejection}, like every other refusal.
 *
 * <p>Thread-safe: the fields are set once; each request's state is its own {@link Exchange}.
 */
public final class JobEndpoints {
  private static final Logger log = LoggerFactory.getLogger(JobEndpoints.class);
  private static final JsonFactory JSON = new JsonFactory();
  /** The {@code Retry-After} of a job that has not finished: when to poll again. */
  static final Duration POLL_AGAIN = Duration.ofSeconds(2);
  /** The longest {@code wait=N} granted (also at most {@code MAX_WAIT_SECONDS}). */
  static final Duration LONGEST_WAIT = Duration.ofSeconds(60);
  static final int MAX_METADATA_KEYS = 16;
  static final int MAX_METADATA_KEY_CHARS = 64;
  static final int MAX_METADATA_VALUE_CHARS = 512;
  static final int MAX_IDEMPOTENCY_KEY_CHARS = 255;
  static final int DEFAULT_LIST_LIMIT = 20;

  private final RelayJobs jobs;
  private final UpstreamClient client;
  private final StoreCalls calls;
  private final ClientRequestReader bodies;

  /**
   * @param jobs the job service
   * @param client the relay's client: its settings, and the account of refusals
   * @param calls where store calls run
   * @param bodies validates the body inside an explicit submission
   */
  public JobEndpoints(RelayJobs jobs, UpstreamClient client, StoreCalls calls, ClientRequestReader bodies) {
    this.jobs = jobs;
    this.client = client;
    this.calls = calls;
    this.bodies = bodies;
  }

  /**
   * One request to the job endpoints (or one submission): who asks, and where the answer goes.
   * Used by one thread at a time.
   */
  public static final class Exchange {
    private final UpstreamClient client;
    private final String requestId;
    private final String method;
    private final String path;
    private final String owner;
    private final String collectionUrl;
    private final ServletResponseSink sink;

    /**
     * @param client accounts for refusals
     * @param requestId the request's id
     * @param method the method, shortened for logs
     * @param path the path, shortened for logs
     * @param owner whose jobs the request may see
     * @param collectionUrl the path of {@code /v1/relay/jobs} as clients reach it (context path and
     *     prefix included), for {@code Location}
     * @param sink the request's response, in async mode
     */
    public Exchange(
        UpstreamClient client,
        String requestId,
        String method,
        String path,
        String owner,
        String collectionUrl,
        ServletResponseSink sink) {
      this.client = client;
      this.requestId = requestId;
      this.method = method;
      this.path = path;
      this.owner = owner;
      this.collectionUrl = collectionUrl;
      this.sink = sink;
    }

    /** Answers with an error, accounted like every refusal. */
    public void reject(RelayException error) {
      client.recordRejection(requestId, method, path, error);
      sink.onFailure(error);
    }

    void answer(int status, Map<String, List<String>> headers, byte[] body) {
      try {
        sink.onResponse(status, headers);
        if (body != null && body.length > 0) {
          sink.onBody(body, 0, body.length);
        }
        sink.onComplete();
      } catch (IOException e) {
        log.debug("request {}: the client left before its job answer: {}", requestId, e.toString());
        sink.abandon();
      }
    }

    String location(String id) {
      return collectionUrl + "/" + id;
    }
  }

  // ---- submissions ---------------------------------------------------------------------------

  /**
   * Submits a proxied request as a job ({@code Prefer: respond-async}) and answers 202 with the job
   * object, or with the finished answer when {@code wait=N} saw it finish.
   *
   * @param x the request
   * @param endpoint the proxied endpoint
   * @param body the validated body
   * @param metadata the caller's metadata as JSON object text, or null
   * @param prefer the request's preferences
   * @param headers the client's forwardable headers (only an allowlist is stored)
   * @param idempotencyKey the {@code Idempotency-Key} header, or null
   */
  public void submit(
      Exchange x,
      Endpoint endpoint,
      ClientBody body,
      String metadata,
      Prefer prefer,
      Map<String, List<String>> headers,
      String idempotencyKey) {
    if (body.streamRequested()) {
      x.reject(JobRelayException.streamNotSupported());
      return;
    }
    if (client.config().upstreamApiKey().isEmpty()) {
      x.reject(JobRelayException.requiresUpstreamKey());
      return;
    }
    if (idempotencyKey != null && !validIdempotencyKey(idempotencyKey)) {
      x.reject(JobRelayException.invalidParameter(
          "Idempotency-Key must be 1 to " + MAX_IDEMPOTENCY_KEY_CHARS + " visible ASCII characters."));
      return;
    }
    JobSubmission submission =
        new JobSubmission(x.owner, endpoint, headers, body.bytes(), body.model(), metadata, idempotencyKey);
    Duration wait = prefer.waitAtMost(longestWait());
    run(x, () -> {
      Submitted submitted = jobs.submit(submission); // committed when it returns
      Job job = submitted.job();
      if (!wait.isZero()) {
        Optional<Job> finished = Optional.empty();
        try {
          finished = jobs.runNow(x.owner, job.id(), wait);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt(); // the servlet is stopping: the job goes on, answer 202
        } catch (RuntimeException e) {
          // The job is stored: whatever went wrong while waiting, it runs as a job.
          log.debug("request {}: waiting for job {} failed: {}", x.requestId, job.id(), e.toString());
        }
        if (finished.isPresent()) {
          result(x, finished.get(), submitted.replayed());
          return;
        }
      }
      accepted(x, job, 202, submitted.replayed());
    });
  }

  /**
   * Submits the explicit form, {@code POST /v1/relay/jobs} with {@code {"endpoint": "/v1/...",
   * "body": {...}, "metadata": {...}}}: the same checks as a {@code Prefer: respond-async}
   * submission, plus the form's own (a POST endpoint of the allowlist, a JSON object body, metadata
   * an object of at most 16 string values).
   *
   * @param x the request
   * @param form the request body, already validated as one JSON object
   * @param prefer the request's preferences ({@code wait=N} applies)
   * @param headers the client's forwardable headers
   * @param idempotencyKey the {@code Idempotency-Key} header, or null
   */
  public void submitExplicit(
      Exchange x, ClientBody form, Prefer prefer, Map<String, List<String>> headers, String idempotencyKey) {
    Explicit explicit;
    try {
      explicit = explicit(form.bytes());
    } catch (RelayException refused) {
      x.reject(refused);
      return;
    }
    submit(x, explicit.endpoint, explicit.body, explicit.metadata, prefer, headers, idempotencyKey);
  }

  private record Explicit(Endpoint endpoint, ClientBody body, String metadata) {}

  private Explicit explicit(byte[] form) {
    Endpoint endpoint = null;
    ClientBody body = null;
    String metadata = null;
    try (JsonParser p = JSON.createParser(form)) {
      p.nextToken(); // START_OBJECT: the reader checked it is one object
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken value = p.nextToken();
        switch (field) {
          case "endpoint" -> {
            String path = value == JsonToken.VALUE_STRING ? p.getText() : null;
            endpoint = path == null ? null : Endpoint.forClientPath(path).filter(Endpoint::hasBody).orElse(null);
            if (endpoint == null) {
              throw JobRelayException.invalidParameter(
                  "endpoint must be one of /v1/chat/completions, /v1/completions, /v1/embeddings.");
            }
          }
          case "body" -> {
            if (value != JsonToken.START_OBJECT) {
              throw new InvalidJsonException("\"body\" must be a JSON object");
            }
            long start = p.currentTokenLocation().getByteOffset();
            if (start < 0) {
              // Jackson read another encoding (UTF-16, UTF-32) and has no byte offsets: the
              // embedded body cannot be cut out byte for byte.
              throw new InvalidJsonException("a job form must be encoded in UTF-8");
            }
            p.skipChildren();
            long end = p.currentTokenLocation().getByteOffset() + 1; // past its closing brace
            if (end <= start || end > form.length) {
              throw new InvalidJsonException("a job form must be encoded in UTF-8");
            }
            body = bodies.parse(Arrays.copyOfRange(form, (int) start, (int) end));
          }
          case "metadata" -> metadata = value == JsonToken.VALUE_NULL ? null : metadata(p, value);
          default -> throw JobRelayException.invalidParameter(
              "Unknown field \"" + LogSafe.text(field, 64) + "\"; a job takes endpoint, body and metadata.");
        }
      }
    } catch (IOException e) {
      throw new InvalidJsonException("it is not valid JSON"); // the reader parsed it already: not expected
    }
    if (endpoint == null) {
      throw JobRelayException.invalidParameter("endpoint is required, such as \"/v1/chat/completions\".");
    }
    if (body == null) {
      throw JobRelayException.invalidParameter("body is required: the request the job sends, a JSON object.");
    }
    return new Explicit(endpoint, body, metadata);
  }

  /** Reads a metadata object into canonical JSON text, refusing what OpenAI's metadata refuses. */
  private static String metadata(JsonParser p, JsonToken value) throws IOException {
    if (value != JsonToken.START_OBJECT) {
      throw JobRelayException.invalidParameter("metadata must be a JSON object of strings.");
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int keys = 0;
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        if (++keys > MAX_METADATA_KEYS) {
          throw JobRelayException.invalidParameter("metadata may hold at most " + MAX_METADATA_KEYS + " keys.");
        }
        if (key.length() > MAX_METADATA_KEY_CHARS) {
          throw JobRelayException.invalidParameter(
              "metadata keys may be at most " + MAX_METADATA_KEY_CHARS + " characters long.");
        }
        if (p.nextToken() != JsonToken.VALUE_STRING) {
          throw JobRelayException.invalidParameter("metadata values must be strings.");
        }
        String text = p.getText();
        if (text.length() > MAX_METADATA_VALUE_CHARS) {
          throw JobRelayException.invalidParameter(
              "metadata values may be at most " + MAX_METADATA_VALUE_CHARS + " characters long.");
        }
        g.writeStringField(key, text);
      }
      g.writeEndObject();
    }
    return out.toString(java.nio.charset.StandardCharsets.UTF_8);
  }

  // ---- the job endpoints ---------------------------------------------------------------------

  /**
   * Serves a job endpoint without a request body: read, result, cancel, delete, list.
   *
   * @param route the endpoint (its method was checked)
   * @param x the request
   * @param limit the {@code limit} query parameter, or null
   * @param after the {@code after} query parameter, or null
   * @param status the {@code status} query parameter, or null
   */
  public void serve(JobRoute route, Exchange x, String limit, String after, String status) {
    if (route.kind() == JobRoute.Kind.COLLECTION) {
      list(x, limit, after, status);
      return;
    }
    if (!route.plausibleId()) {
      x.reject(JobRelayException.notFound());
      return;
    }
    String id = route.id();
    switch (route.kind()) {
      case JOB -> {
        if (x.method.equals("DELETE")) {
          run(x, () -> {
            if (jobs.delete(x.owner, id)) {
              x.answer(200, json(), JobJson.deleted(id));
            } else {
              x.reject(JobRelayException.notFound());
            }
          });
        } else {
          run(x, () -> jobs.get(x.owner, id, true)
              .ifPresentOrElse(job -> x.answer(200, json(), JobJson.job(job)), () -> x.reject(JobRelayException.notFound())));
        }
      }
      case RESULT -> run(x, () -> jobs.get(x.owner, id, true)
          .ifPresentOrElse(job -> result(x, job, false), () -> x.reject(JobRelayException.notFound())));
      case CANCEL -> run(x, () -> {
        Optional<Job> job = jobs.cancel(x.owner, id);
        if (job.isPresent() && job.get().response() != null) {
          job = jobs.get(x.owner, id, true); // a finished job, shown with its response body
        }
        job.ifPresentOrElse(j -> x.answer(200, json(), JobJson.job(j)), () -> x.reject(JobRelayException.notFound()));
      });
      default -> throw new IllegalStateException(route.toString());
    }
  }

  private void list(Exchange x, String limitParam, String after, String statusParam) {
    int limit = DEFAULT_LIST_LIMIT;
    JobStatus status = null;
    if (limitParam != null) {
      try {
        limit = Integer.parseInt(limitParam.trim());
      } catch (NumberFormatException e) {
        limit = -1;
      }
      if (limit < 1 || limit > 100) {
        x.reject(JobRelayException.invalidParameter("limit must be a whole number from 1 to 100."));
        return;
      }
    }
    if (after != null && !new JobRoute(JobRoute.Kind.JOB, after).plausibleId()) {
      x.reject(JobRelayException.invalidParameter("after must be a job id (job_ and 32 hex digits)."));
      return;
    }
    if (statusParam != null) {
      try {
        status = JobStatus.fromWireName(statusParam);
      } catch (IllegalArgumentException e) {
        x.reject(JobRelayException.invalidParameter(
            "status must be one of queued, in_progress, completed, failed, cancelling, cancelled, expired."));
        return;
      }
    }
    int pageSize = limit;
    JobStatus only = status;
    run(x, () -> {
      JobPage page = jobs.list(x.owner, pageSize, after, only);
      x.answer(200, json(), JobJson.list(page));
    });
  }

  /**
   * Answers with what a job came to: its stored response replayed (status, content type and body
   * bytes) when it has one; 409, 410 or the job's error when it ended without; 202 with the job
   * object while it runs.
   */
  private void result(Exchange x, Job job, boolean replayed) {
    Job.Response response = job.response();
    switch (job.status()) {
      case COMPLETED, FAILED -> {
        if (response != null && response.body() != null) {
          Map<String, List<String>> headers = new LinkedHashMap<>();
          if (response.contentType() != null) {
            headers.put("Content-Type", List.of(response.contentType()));
          }
          headers.put("X-Relay-Job-Id", List.of(job.id()));
          if (replayed) {
            headers.put("Idempotent-Replayed", List.of("true"));
          }
          x.answer(response.statusCode(), headers, response.body());
        } else {
          x.reject(JobRelayException.failed(job));
        }
      }
      case CANCELLED -> x.reject(JobRelayException.cancelled());
      case EXPIRED -> x.reject(JobRelayException.expired(job));
      default -> accepted(x, job, 202, replayed);
    }
  }

  /** 202 (or {@code status}) with the job object, where to find it and when to ask again. */
  private void accepted(Exchange x, Job job, int status, boolean replayed) {
    Map<String, List<String>> headers = json();
    headers.put("Location", List.of(x.location(job.id())));
    headers.put("Preference-Applied", List.of("respond-async"));
    headers.put("Retry-After", List.of(Long.toString(POLL_AGAIN.toSeconds())));
    headers.put("X-Relay-Job-Id", List.of(job.id()));
    if (replayed) {
      headers.put("Idempotent-Replayed", List.of("true"));
    }
    x.answer(status, headers, JobJson.job(job));
  }

  private static Map<String, List<String>> json() {
    Map<String, List<String>> headers = new LinkedHashMap<>();
    headers.put("Content-Type", List.of("application/json"));
    headers.put("Cache-Control", List.of("no-store"));
    return headers;
  }

  private Duration longestWait() {
    Duration maxWait = client.config().maxWait();
    return maxWait.compareTo(LONGEST_WAIT) < 0 ? maxWait : LONGEST_WAIT;
  }

  static boolean validIdempotencyKey(String key) {
    if (key.isEmpty() || key.length() > MAX_IDEMPOTENCY_KEY_CHARS) {
      return false;
    }
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c < 0x20 || c > 0x7e) {
        return false;
      }
    }
    return true;
  }

  /** Runs store work off pooled platform threads; maps the job service's failures to answers. */
  private void run(Exchange x, Runnable work) {
    Runnable guarded = () -> {
      try {
        work.run();
      } catch (RuntimeException e) {
        JobRelayException mapped = JobRelayException.of(e);
        if (mapped != null) {
          log.debug("request {}: {}", x.requestId, e.toString());
          x.reject(mapped);
        } else if (e instanceof RelayException refused) {
          x.reject(refused);
        } else {
          log.error("request {}: unexpected failure of a job request", x.requestId, e);
          x.reject(new InternalRelayException(0, e));
        }
      }
    };
    try {
      calls.run(guarded);
    } catch (RejectedExecutionException stopping) {
      x.reject(new RelayClosedException());
    }
  }
}
