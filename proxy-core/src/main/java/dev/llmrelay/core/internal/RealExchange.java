package dev.llmrelay.core.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import dev.failsafe.Failsafe;
import dev.failsafe.FailsafeException;
import dev.failsafe.RetryPolicy;
import dev.failsafe.TimeoutExceededException;
import dev.failsafe.function.ContextualSupplier;
import dev.llmrelay.core.AttemptRecord;
import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.InternalRelayException;
import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.RelayClosedException;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.ResponseSink;
import dev.llmrelay.core.TokenUsage;
import dev.llmrelay.core.UpstreamBadResponseException;
import dev.llmrelay.core.UpstreamErrorException;
import dev.llmrelay.core.UpstreamExchange;
import dev.llmrelay.core.UpstreamTimeoutException;
import dev.llmrelay.core.UpstreamUnreachableException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLException;
import okhttp3.Call;
import okhttp3.Headers;
import okhttp3.MediaType;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.Buffer;
import okio.BufferedSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client request on its way through the relay: permit, attempts, delivery, release.
 *
 * <p>The legs are named as in Jetty's proxy: the {@code clientRequest} arrives, each attempt sends
 * an {@code upstreamRequest} and gets an {@code upstreamResponse}, and the {@code sink} receives
 * the client response. Everything that can end the exchange (success, failure, client gone,
 * cancel) funnels into {@link #finish}, which releases the permit exactly once.
 *
 * <p>Thread-safety: {@link #cancel()} may be called from any thread; everything else runs first on
 * the thread that grants the permit, then on one executor thread.
 */
final class RealExchange implements UpstreamExchange {
  static final Logger attemptLog = LoggerFactory.getLogger("dev.llmrelay.attempts");
  private static final Logger log = LoggerFactory.getLogger(RealExchange.class);
  private static final MediaType JSON = MediaType.get("application/json");
  private static final int READ_SIZE = 8192;
  /** Client headers the relay sets itself or must not forward. */
  private static final Set<String> NOT_FORWARDED_UP = Set.of("accept-encoding", "x-request-id");
  /** Upstream headers the relay replaces. */
  private static final Set<String> NOT_FORWARDED_DOWN =
      Set.of("x-relay-attempts", "x-request-id", "content-encoding");

  private final RealUpstreamClient client;
  private final RelayConfig config;
  private final ClientRequest clientRequest;
  private final ResponseSink sink;
  private final long startNanos = System.nanoTime();
  private final CompletableFuture<ExchangeResult> completion = new CompletableFuture<>();
  private final AtomicBoolean finished = new AtomicBoolean();

  /** The caller cancelled (the client went away): the sink gets no further call. */
  private volatile boolean cancelled;
  /** The client is closing: stop, but still tell the client (503 relay_closed or an in-band error). */
  private volatile boolean aborting;
  private volatile Thread runner;
  private volatile CompletableFuture<ConcurrencyGate.Permit> permitFuture;
  private volatile ConcurrencyGate.Permit permit;
  private volatile dev.failsafe.Call<AttemptResult> failsafeCall;
  private volatile Call upstreamCall;

  /** Where the exchange is, for the client-disconnect metric. */
  private volatile Phase phase = Phase.QUEUED;

  // Written by the exchange thread, read in finish() on the same thread (or before it started).
  private volatile int attempts;
  private final List<AttemptRecord> trail = new ArrayList<>(2);
  private long queueWaitNanos;
  private long attemptStartNanos;
  private long headersNanos = -1;
  private long firstEventNanos = -1;
  private long bytesOut;
  private boolean streamed;
  private Outcome outcome;
  private int status;
  private String errorCode;
  private String midStreamCause;
  private TokenUsage tokens;
  private String lastFailureReason = "";

  /** Phases a client can leave in; names as in the {@code client_disconnects} metric. */
  enum Phase {
    QUEUED("queued"),
    WAITING_HEADERS("waiting_headers"),
    BACKOFF("backoff"),
    STREAMING("streaming");

    final String metricName;

    Phase(String metricName) {
      this.metricName = metricName;
    }
  }

  RealExchange(RealUpstreamClient client, ClientRequest clientRequest, ResponseSink sink) {
    this.client = client;
    this.config = client.config();
    this.clientRequest = clientRequest;
    this.sink = sink;
  }

  void start() {
    CompletableFuture<ConcurrencyGate.Permit> f = client.gate().acquire(clientRequest.requestId());
    permitFuture = f;
    // Continue on an exchange thread: a permit is often granted on the thread of the exchange
    // that released it, and a wait expires on the shared scheduler; neither may run this one.
    f.whenCompleteAsync(this::onPermit, client.exchangeExecutor());
  }

  @Override
  public void cancel() {
    if (finished.get()) {
      return;
    }
    cancelled = true;
    stop();
  }

  /**
   * Stops the exchange because the client is closing. Unlike {@link #cancel()} the client is
   * still told: 503 {@code relay_closed} before the commit point, an in-band error event after.
   */
  void abort() {
    if (finished.get()) {
      return;
    }
    aborting = true;
    stop();
  }

  private void stop() {
    CompletableFuture<ConcurrencyGate.Permit> pf = permitFuture;
    if (pf != null) {
      pf.cancel(false);
    }
    dev.failsafe.Call<AttemptResult> fc = failsafeCall;
    if (fc != null) {
      fc.cancel(true);
    }
    Call c = upstreamCall;
    if (c != null) {
      c.cancel();
    }
    Thread t = runner;
    if (t != null && phase == Phase.BACKOFF) {
      // Failsafe makes a backoff interruptible only after its retry listener ran; interrupting
      // the sleeping thread ourselves closes that window.
      t.interrupt();
    }
  }

  @Override
  public CompletionStage<ExchangeResult> completion() {
    return completion;
  }

  String requestId() {
    return clientRequest.requestId();
  }

  private void onPermit(ConcurrencyGate.Permit granted, Throwable error) {
    queueWaitNanos = System.nanoTime() - startNanos;
    if (error != null) {
      Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
      if (cancelled) {
        finish(Outcome.CLIENT_CANCELLED, 0);
      } else if (aborting || cause instanceof CancellationException) {
        RelayClosedException closed = new RelayClosedException();
        failBeforeCommit(closed, Outcome.REJECTED);
        finish(Outcome.REJECTED, closed.status());
      } else if (cause instanceof RelayException rex) {
        failBeforeCommit(rex, Outcome.REJECTED);
        finish(Outcome.REJECTED, rex.status());
      } else {
        failBeforeCommit(new InternalRelayException(0, cause), Outcome.BAD_RESPONSE);
        finish(Outcome.BAD_RESPONSE, 500);
      }
      return;
    }
    permit = granted;
    if (cancelled) {
      finish(Outcome.CLIENT_CANCELLED, 0);
      return;
    }
    if (aborting || client.isClosed()) {
      RelayClosedException closed = new RelayClosedException();
      failBeforeCommit(closed, Outcome.REJECTED);
      finish(Outcome.REJECTED, closed.status());
      return;
    }
    run();
  }

  private void run() {
    AttemptResult result = null;
    runner = Thread.currentThread();
    try {
      if (cancelled || aborting) {
        throw new CancellationException();
      }
      Request upstreamRequest = buildUpstreamRequest();
      dev.failsafe.Call<AttemptResult> fc =
          Failsafe.with(retryPolicy())
              .with(client.scheduler())
              .newCall((ContextualSupplier<AttemptResult, AttemptResult>) ctx -> attempt(ctx, upstreamRequest));
      failsafeCall = fc;
      if (cancelled || aborting) {
        throw new CancellationException();
      }
      result = fc.execute();
      if (attempts > 1 || debug()) {
        debugLine("success on attempt {}/{} (HTTP {})", attempts, config.maxAttempts(), result.status);
      }
      deliver(result);
    } catch (Throwable t) {
      if (result != null) {
        result.abandon();
      }
      onFailure(t);
    } finally {
      if (result != null) {
        if (outcome == Outcome.SUCCESS) {
          result.release(); // a finished stream: its connection goes back to the pool
        } else {
          result.abandon();
        }
      }
      runner = null;
      Thread.interrupted(); // a cancel may have interrupted a backoff; never leak it to the pool
      finish(outcome == null ? Outcome.CLIENT_CANCELLED : outcome, status);
    }
  }

  private RetryPolicy<AttemptResult> retryPolicy() {
    return RetryPolicy.<AttemptResult>builder()
        .withMaxAttempts(config.maxAttempts())
        .handleIf(e -> e instanceof AttemptFailure)
        .handleResultIf(r -> r.retry)
        .withDelayFn(ctx -> {
          AttemptResult last = ctx.getLastResult();
          return client.backoff().delay(ctx.getAttemptCount(), last == null ? null : last.retryAfter);
        })
        .onRetryScheduled(e -> {
          phase = Phase.BACKOFF;
          client.recorder().retry();
          if (attemptLogOn()) {
            debugLine(
                "retrying in {}s after {}",
                String.format(Locale.ROOT, "%.1f", e.getDelay().toMillis() / 1000.0),
                lastFailureReason);
          }
        })
        .build();
  }

  private Request buildUpstreamRequest() {
    Map<String, List<String>> forwarded = HopByHopHeaders.endToEnd(clientRequest.headers(), NOT_FORWARDED_UP);
    Headers.Builder headers = new Headers.Builder();
    boolean upstreamKey = config.upstreamApiKey().isPresent();
    forwarded.forEach((name, values) -> {
      if (upstreamKey && name.equalsIgnoreCase("authorization")) {
        return;
      }
      for (String v : values) {
        headers.addUnsafeNonAscii(name, v);
      }
    });
    config.upstreamApiKey().ifPresent(key -> headers.set("Authorization", "Bearer " + key));
    headers.set("X-Request-Id", clientRequest.requestId());
    Request.Builder upstreamRequest =
        new Request.Builder().url(client.urlFor(clientRequest.endpoint())).headers(headers.build());
    if (clientRequest.endpoint().hasBody()) {
      List<String> ct = clientRequest.headers().get("Content-Type");
      MediaType type = ct == null || ct.isEmpty() ? JSON : MediaType.parse(ct.get(0));
      upstreamRequest.post(RequestBody.create(clientRequest.body(), type == null ? JSON : type));
    } else {
      upstreamRequest.get();
    }
    return upstreamRequest.build();
  }

  /**
   * One attempt, inside the retry policy: returns a complete response or a stream ready to commit,
   * and records the attempt's result and duration in the trail whichever way it ends.
   */
  private AttemptResult attempt(dev.failsafe.ExecutionContext<AttemptResult> ctx, Request upstreamRequest) {
    if (cancelled || aborting) {
      throw new CancellationException();
    }
    int n = ctx.getAttemptCount() + 1;
    attempts = n;
    phase = Phase.WAITING_HEADERS;
    long started = System.nanoTime();
    attemptStartNanos = started;
    headersNanos = -1;
    firstEventNanos = -1;
    try {
      AttemptResult result = sendAttempt(n, upstreamRequest, ctx);
      trail.add(new AttemptRecord(n, Integer.toString(result.status), Duration.ofNanos(System.nanoTime() - started)));
      return result;
    } catch (AttemptFailure f) {
      trail.add(new AttemptRecord(n, f.kind.reason, Duration.ofNanos(System.nanoTime() - started)));
      throw f;
    } catch (UpstreamBadResponseException bad) {
      trail.add(new AttemptRecord(n, "bad_response", Duration.ofNanos(System.nanoTime() - started)));
      throw bad;
    } catch (RuntimeException other) {
      trail.add(new AttemptRecord(n, "cancelled", Duration.ofNanos(System.nanoTime() - started)));
      throw other;
    }
  }

  private AttemptResult sendAttempt(int n, Request upstreamRequest, dev.failsafe.ExecutionContext<AttemptResult> ctx) {
    boolean first = n == 1;
    Duration timeout = first ? config.attemptTimeout() : config.retryTimeout();
    if (attemptLogOn()) {
      debugLine("attempt {}/{} to upstream [timeout {}]", n, config.maxAttempts(), seconds(timeout));
    }
    Call call = client.okHttp().newCall(upstreamRequest);
    upstreamCall = call;
    ctx.onCancel(call::cancel);
    if (cancelled || aborting) {
      call.cancel();
      throw new CancellationException();
    }
    Response upstreamResponse;
    AtomicReference<Response> late = new AtomicReference<>();
    try {
      upstreamResponse =
          client.headerTimeout(first).get(tctx -> {
            tctx.onCancel(call::cancel);
            Response r = call.execute();
            late.set(r);
            return r;
          });
    } catch (TimeoutExceededException e) {
      // Headers that won the race against the timer are discarded by Failsafe: close them.
      Response discarded = late.get();
      if (discarded != null) {
        discarded.close();
      }
      client.recorder().attemptTimeout();
      throw attemptFailed(
          n, new AttemptFailure(AttemptFailure.Kind.TIMEOUT, "no response headers within " + seconds(timeout), null));
    } catch (FailsafeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw attemptFailed(n, classify(cause, null));
    }
    headersNanos = System.nanoTime() - attemptStartNanos;
    return readAttempt(n, call, upstreamResponse);
  }

  private AttemptResult readAttempt(int n, Call call, Response upstreamResponse) {
    int code = upstreamResponse.code();
    Headers headers = upstreamResponse.headers();
    String contentType = headers.get("Content-Type");
    boolean sse =
        code >= 200 && code < 300 && contentType != null
            && contentType.toLowerCase(Locale.ROOT).startsWith("text/event-stream");
    IdleWatchdog watchdog = null;
    boolean keepOpen = false;
    boolean clean = false;
    try {
      watchdog = new IdleWatchdog(call, config.streamIdleTimeout().toNanos(), client.scheduler());
      BufferedSource source = upstreamResponse.body().source();
      if (sse) {
        SseEventScanner scanner = new SseEventScanner(READ_SIZE * 2);
        while (!scanner.hasDataEvent()) {
          int r = source.read(scanner.writableBuffer(READ_SIZE), scanner.writeOffset(), READ_SIZE);
          if (r == -1) {
            throw new AttemptFailure(
                AttemptFailure.Kind.BROKEN, "the stream ended before its first data event", null);
          }
          watchdog.touch();
          scanner.appended(r);
          if (scanner.size() > config.maxResponseBytes()) {
            throw new UpstreamBadResponseException(
                "The upstream stream sent more than MAX_RESPONSE_BYTES before its first event.", n);
          }
        }
        keepOpen = true;
        firstEventNanos = System.nanoTime() - attemptStartNanos;
        return AttemptResult.stream(code, headers, upstreamResponse, call, scanner, watchdog);
      }
      Buffer body = new Buffer();
      long max = config.maxResponseBytes();
      while (source.read(body, READ_SIZE) != -1) {
        watchdog.touch();
        if (body.size() > max) {
          throw new UpstreamBadResponseException(
              "The upstream response is larger than MAX_RESPONSE_BYTES (" + max + " bytes).", n);
        }
      }
      clean = true;
      boolean retryableStatus = code == 408 || code == 429 || code >= 500;
      Duration retryAfter =
          code == 429 || code == 503 ? RetryAfter.parse(headers, client.clock()).orElse(null) : null;
      boolean waitable = retryAfter == null || retryAfter.compareTo(config.retryAfterMax()) <= 0;
      if (retryableStatus) {
        lastFailureReason = "HTTP " + code;
        if (n < config.maxAttempts() || debug()) {
          debugLine(
              "HTTP {} on attempt {}/{}{}",
              code,
              n,
              config.maxAttempts(),
              waitable ? "" : " with Retry-After " + seconds(retryAfter) + " above RETRY_AFTER_MAX_SECONDS: returned");
        }
      }
      return AttemptResult.complete(code, headers, body.readByteArray(), retryAfter, retryableStatus, retryableStatus && waitable);
    } catch (IOException e) {
      if (watchdog != null && watchdog.fired()) {
        client.recorder().attemptTimeout();
        throw attemptFailed(
            n,
            new AttemptFailure(
                AttemptFailure.Kind.IDLE_TIMEOUT,
                "the response body was silent for " + seconds(config.streamIdleTimeout()),
                e));
      }
      throw attemptFailed(n, classify(e, "the response body broke: "));
    } finally {
      if (!keepOpen) {
        if (watchdog != null) {
          watchdog.close();
        }
        if (!clean) {
          call.cancel();
        }
        upstreamResponse.close();
      }
    }
  }

  /** Maps an I/O failure of an attempt to an {@link AttemptFailure}, or to cancellation. */
  private RuntimeException classify(Throwable e, String prefix) {
    if (cancelled || aborting) {
      return new CancellationException("cancelled");
    }
    if (e instanceof AttemptFailure af) {
      return af;
    }
    if (e instanceof RuntimeException re && !(e instanceof FailsafeException)) {
      return re;
    }
    String p = prefix == null ? "" : prefix;
    if (e instanceof SocketTimeoutException || (e instanceof InterruptedIOException && "timeout".equals(e.getMessage()))) {
      client.recorder().attemptTimeout();
      return new AttemptFailure(AttemptFailure.Kind.TIMEOUT, p + e, e);
    }
    client.recorder().attemptConnectError();
    if (e instanceof ConnectException || e instanceof UnknownHostException || e instanceof NoRouteToHostException || e instanceof SSLException) {
      return new AttemptFailure(AttemptFailure.Kind.CONNECT, p + e, e);
    }
    return new AttemptFailure(AttemptFailure.Kind.BROKEN, p + e, e);
  }

  private RuntimeException attemptFailed(int n, RuntimeException failure) {
    if (failure instanceof AttemptFailure af) {
      lastFailureReason = af.kind.reason;
      if (n < config.maxAttempts() || debug()) {
        debugLine("{} on attempt {}/{}: {}", af.kind.reason, n, config.maxAttempts(), af.getMessage());
      }
    }
    return failure;
  }

  // ---- delivery ---------------------------------------------------------------------------

  private void deliver(AttemptResult result) throws ClientGone {
    if (result.isStream()) {
      stream(result);
      return;
    }
    int code = result.status;
    boolean exhausted = result.retryableStatus && attempts >= config.maxAttempts();
    Outcome o = outcomeFor(code);
    phase = Phase.STREAMING;
    if (code >= 400 && !JsonBodies.inspect(result.body).valid()) {
      failBeforeCommit(new UpstreamErrorException(code, result.retryAfter, !exhausted, attempts), o);
      return;
    }
    JsonBodies.Inspection inspection =
        code >= 200 && code < 300 && isJsonType(result.headers) ? JsonBodies.inspect(result.body) : null;
    if (inspection != null) {
      tokens = inspection.usage();
    }
    if (inspection != null && !inspection.valid()) {
      failBeforeCommit(
          new UpstreamBadResponseException("The upstream answered HTTP " + code + " with a body that is not valid JSON.", attempts),
          Outcome.BAD_RESPONSE);
      return;
    }
    outcome = o;
    status = code;
    Map<String, List<String>> clientHeaders = clientHeaders(result.headers, exhausted);
    try {
      checkNotCancelled();
      sink.onResponse(code, clientHeaders);
      if (result.body.length > 0) {
        checkNotCancelled();
        sink.onBody(result.body, 0, result.body.length);
        bytesOut += result.body.length;
      }
      checkNotCancelled();
      sink.onComplete();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  private void stream(AttemptResult result) throws ClientGone {
    streamed = true;
    phase = Phase.STREAMING;
    status = result.status;
    SseEventScanner scanner = result.scanner;
    BufferedSource source = result.streamResponse.body().source();
    result.watchdog.pause(); // time spent writing to a slow client is not upstream silence
    try {
      checkNotCancelled();
      sink.onResponse(result.status, clientHeaders(result.headers, false)); // the commit point
      forwardComplete(scanner);
      sink.flush();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    result.watchdog.resume();
    boolean dirty = false;
    boolean eof = false;
    while (!scanner.sawDone()) {
      int r;
      try {
        r = source.read(scanner.writableBuffer(READ_SIZE), scanner.writeOffset(), READ_SIZE);
      } catch (IOException e) {
        if (cancelled) {
          throw new CancellationException();
        }
        if (aborting) {
          midStreamFailure(result, "shutdown", "the relay is shutting down");
          return;
        }
        if (scanner.sawFinishReason()) {
          break; // the answer was complete; the transport ended untidily after it
        }
        boolean idle = result.watchdog.fired();
        midStreamFailure(result, idle ? "idle_timeout" : "reset", idle
            ? "the upstream stream was silent for " + seconds(config.streamIdleTimeout())
            : "the upstream connection broke (" + e.getMessage() + ")");
        return;
      }
      if (r == -1) {
        if (!scanner.sawFinishReason()) {
          midStreamFailure(result, "eof", "the upstream closed the stream before it finished");
          return;
        }
        eof = true;
        break;
      }
      scanner.appended(r);
      result.watchdog.pause();
      try {
        dirty |= forwardComplete(scanner);
        if (dirty && source.getBuffer().size() == 0) {
          sink.flush(); // flush exactly when the next read would block
          dirty = false;
        }
      } catch (IOException e) {
        throw new ClientGone(e);
      }
      result.watchdog.resume();
      if (scanner.size() > config.maxResponseBytes()) {
        midStreamFailure(result, "too_large", "an upstream event exceeded MAX_RESPONSE_BYTES");
        return;
      }
    }
    try {
      checkNotCancelled();
      if (eof && scanner.size() > 0) {
        // A finished stream whose upstream closed without the final blank line: end the last
        // event so that SSE parsers dispatch it. After a broken transport the tail is dropped.
        byte[] end = scanner.terminator();
        sink.onBody(scanner.buffer(), 0, scanner.size());
        sink.onBody(end, 0, end.length);
        bytesOut += scanner.size() + end.length;
        scanner.consume(scanner.size());
      }
      sink.flush();
      sink.onComplete();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    outcome = Outcome.SUCCESS;
    streamTokens(scanner);
  }

  private void streamTokens(SseEventScanner scanner) {
    byte[] usage = scanner.usagePayload();
    if (usage != null) {
      tokens = JsonBodies.inspect(usage).usage();
    }
  }

  private boolean forwardComplete(SseEventScanner scanner) throws IOException {
    int n = scanner.completeLength();
    if (n == 0) {
      return false;
    }
    checkNotCancelled();
    sink.onBody(scanner.buffer(), 0, n);
    bytesOut += n;
    scanner.consume(n);
    return true;
  }

  private void midStreamFailure(AttemptResult result, String cause, String reason) throws ClientGone {
    result.abandon(); // close the upstream connection before telling the client
    outcome = Outcome.MIDSTREAM_FAILURE;
    midStreamCause = cause;
    streamTokens(result.scanner);
    log.warn(
        "request {}: stream interrupted after {} data events and {} bytes: {}",
        clientRequest.requestId(),
        result.scanner.dataEvents(),
        bytesOut,
        reason);
    byte[] event = errorEvent(result.scanner.firstDataPayload(), reason);
    try {
      checkNotCancelled();
      sink.onBody(event, 0, event.length);
      bytesOut += event.length;
      sink.flush();
      sink.onComplete();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  /** The final in-band event of a broken stream: OpenAI's chunk shape with an error object. */
  private byte[] errorEvent(byte[] firstPayload, String reason) {
    String id = "relay-" + clientRequest.requestId();
    String model = clientRequest.model();
    long created = System.currentTimeMillis() / 1000;
    if (firstPayload != null) {
      try {
        JsonNode first = Json.MAPPER.readTree(firstPayload);
        id = first.path("id").asText(id);
        model = first.path("model").asText(model);
        created = first.path("created").asLong(created);
      } catch (IOException ignored) {
        // keep the relay's own id
      }
    }
    boolean chat = clientRequest.endpoint() == Endpoint.CHAT_COMPLETIONS;
    ByteArrayOutputStream out = new ByteArrayOutputStream(512);
    try {
      out.write("data: ".getBytes(StandardCharsets.US_ASCII));
      try (JsonGenerator json = Json.FACTORY.createGenerator(out)) {
        json.writeStartObject();
        json.writeStringField("id", id);
        json.writeStringField("object", chat ? "chat.completion.chunk" : "text_completion");
        json.writeNumberField("created", created);
        if (model != null) {
          json.writeStringField("model", model);
        }
        json.writeArrayFieldStart("choices");
        json.writeStartObject();
        json.writeNumberField("index", 0);
        if (chat) {
          json.writeObjectFieldStart("delta");
          json.writeEndObject();
        } else {
          json.writeStringField("text", "");
        }
        json.writeStringField("finish_reason", "error");
        json.writeEndObject();
        json.writeEndArray();
        json.writeObjectFieldStart("error");
        json.writeStringField("message", "The upstream stream was interrupted: " + reason + ". The answer is incomplete.");
        json.writeStringField("type", "proxy_error");
        json.writeNullField("param");
        json.writeStringField("code", "upstream_stream_interrupted");
        json.writeEndObject();
        json.writeEndObject();
      }
      out.write("\n\n".getBytes(StandardCharsets.US_ASCII));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private Map<String, List<String>> clientHeaders(Headers upstreamHeaders, boolean exhausted) {
    Map<String, List<String>> out = HopByHopHeaders.endToEnd(upstreamHeaders.toMultimap(), NOT_FORWARDED_DOWN);
    String upstreamId = upstreamHeaders.get("x-request-id");
    if (upstreamId != null) {
      out.put("X-Upstream-Request-Id", List.of(upstreamId));
    }
    out.put("X-Relay-Attempts", List.of(Integer.toString(attempts)));
    if (exhausted) {
      out.put("x-should-retry", List.of("false"));
    }
    return out;
  }

  // ---- failures ---------------------------------------------------------------------------

  private void onFailure(Throwable t) {
    Throwable e = t;
    if (e instanceof FailsafeException && e.getCause() != null) {
      e = e.getCause();
    }
    if (e instanceof ClientGone gone) {
      cancel();
      outcome = Outcome.CLIENT_CANCELLED;
      log.debug("request {}: client went away: {}", clientRequest.requestId(), gone.getCause().toString());
      return;
    }
    if (cancelled) {
      outcome = Outcome.CLIENT_CANCELLED;
      return;
    }
    if (aborting && !streamed) {
      failBeforeCommit(new RelayClosedException(), Outcome.REJECTED);
      return;
    }
    if (e instanceof CancellationException || e instanceof InterruptedException) {
      outcome = Outcome.CLIENT_CANCELLED;
      return;
    }
    if (e instanceof AttemptFailure af) {
      String summary = af.getMessage() + " (" + attempts + " of " + config.maxAttempts() + " attempts)";
      if (af.kind.isTimeout()) {
        failBeforeCommit(new UpstreamTimeoutException("The upstream did not answer in time: " + summary, attempts, af), Outcome.TIMEOUT);
      } else {
        failBeforeCommit(new UpstreamUnreachableException("The upstream could not be reached: " + summary, attempts, af), Outcome.UNREACHABLE);
      }
      return;
    }
    if (e instanceof UpstreamBadResponseException bad) {
      failBeforeCommit(bad, Outcome.BAD_RESPONSE);
      return;
    }
    if (e instanceof RelayException rex) {
      failBeforeCommit(rex, Outcome.BAD_RESPONSE);
      return;
    }
    log.error("request {}: unexpected failure", clientRequest.requestId(), e);
    if (streamed) {
      outcome = Outcome.MIDSTREAM_FAILURE;
      try {
        sink.onComplete();
      } catch (IOException | RuntimeException ignored) {
        // the response is already committed; nothing more can be said
      }
      return;
    }
    failBeforeCommit(new InternalRelayException(attempts, e), Outcome.BAD_RESPONSE);
  }

  private void failBeforeCommit(RelayException error, Outcome o) {
    outcome = o;
    status = error.status();
    errorCode = error.code();
    if (cancelled) {
      outcome = Outcome.CLIENT_CANCELLED;
      return;
    }
    try {
      sink.onFailure(error);
    } catch (RuntimeException e) {
      log.warn("request {}: the sink failed to render {}", clientRequest.requestId(), error.code(), e);
    }
  }

  private void finish(Outcome finalOutcome, int finalStatus) {
    if (!finished.compareAndSet(false, true)) {
      return;
    }
    ConcurrencyGate.Permit p = permit;
    if (p != null) {
      p.close();
    }
    long totalNanos = System.nanoTime() - startNanos;
    client.exchangeEnded(this);
    ExchangeResult result =
        new ExchangeResult(
            clientRequest.requestId(),
            clientRequest.endpoint().method(),
            clientRequest.endpoint().clientPath(),
            clientRequest.model(),
            clientRequest.streamRequested(),
            finalOutcome,
            finalOutcome == Outcome.CLIENT_CANCELLED && !streamed ? 0 : finalStatus,
            finalOutcome == Outcome.CLIENT_CANCELLED ? null : errorCode,
            trail,
            streamed,
            Duration.ofNanos(queueWaitNanos),
            headersNanos < 0 ? null : Duration.ofNanos(headersNanos),
            streamed && firstEventNanos >= 0 ? Duration.ofNanos(firstEventNanos) : null,
            Duration.ofNanos(totalNanos),
            bytesOut,
            tokens,
            finalOutcome == Outcome.CLIENT_CANCELLED ? phase.metricName : null,
            finalOutcome == Outcome.MIDSTREAM_FAILURE ? midStreamCause : null);
    client.exchangeFinished(result);
    completion.complete(result);
  }

  // ---- helpers ----------------------------------------------------------------------------

  private void checkNotCancelled() {
    if (cancelled) {
      throw new CancellationException();
    }
  }

  private boolean debug() {
    return client.debugMode().enabled();
  }

  /** True when attempt lines are wanted at all, so the hot path builds no arguments otherwise. */
  private boolean attemptLogOn() {
    return debug() || attemptLog.isDebugEnabled();
  }

  private void debugLine(String format, Object... args) {
    if (debug()) {
      attemptLog.info("[" + clientRequest.requestId() + "] " + format, args);
    } else if (attemptLog.isDebugEnabled()) {
      attemptLog.debug("[" + clientRequest.requestId() + "] " + format, args);
    }
  }

  private static Outcome outcomeFor(int code) {
    if (code >= 500) {
      return Outcome.UPSTREAM_5XX;
    }
    if (code >= 400) {
      return Outcome.UPSTREAM_4XX;
    }
    return Outcome.SUCCESS;
  }

  private static boolean isJsonType(Headers headers) {
    String ct = headers.get("Content-Type");
    return ct != null && ct.toLowerCase(Locale.ROOT).contains("json");
  }

  static String seconds(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? (ms / 1000) + "s" : String.format(Locale.ROOT, "%.1fs", ms / 1000.0);
  }

  /** The client went away while the relay wrote to it. */
  static final class ClientGone extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ClientGone(IOException cause) {
      super(cause.toString(), cause, false, false);
    }
  }
}
