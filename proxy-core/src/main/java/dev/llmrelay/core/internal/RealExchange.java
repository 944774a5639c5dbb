package dev.llmrelay.core.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.ResponseSink;
import dev.llmrelay.core.TokenUsage;
import dev.llmrelay.core.UpstreamCircuitOpenException;
import dev.llmrelay.core.UpstreamExchange;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import okhttp3.Headers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client request on its way through the relay, as a lifecycle: permit, attempts ({@link
 * AttemptLoop}), delivery (a complete answer, or a stream through {@link StreamRelay} with its
 * continuations), finish. Everything that can end it (success, failure, client gone, cancel,
 * shutdown) ends in {@link #finish}, which releases the permit exactly once.
 *
 * <p>The legs are named as in Jetty's proxy: the {@code clientRequest} arrives, each attempt sends
 * an upstream request and gets an upstream response, and the {@link ClientWriter} writes the
 * client response.
 *
 * <p>Thread-safety: {@link #cancel()} and {@link #abort()} may be called from any thread; they
 * only touch {@link #control} and the permit future. Everything else runs on one thread at a time:
 * the thread that runs the exchange once the permit is granted.
 */
final class RealExchange implements UpstreamExchange {
  private static final Logger log = LoggerFactory.getLogger(RealExchange.class);
  /** Upstream headers the relay replaces. */
  private static final Set<String> NOT_FORWARDED_DOWN = Set.of("x-relay-attempts", "x-request-id", "content-encoding");
  private static final int NEW = 0;
  private static final int STARTED = 1;

  // ---- set at construction, read by every thread -------------------------------------------
  private final RealUpstreamClient client;
  private final RelayConfig config;
  private final ClientRequest clientRequest;
  private final long startNanos = System.nanoTime();
  private final CompletableFuture<ExchangeResult> completion = new CompletableFuture<>();

  // ---- touched by canceling threads --------------------------------------------------------
  private final ExchangeControl control = new ExchangeControl();
  private final AtomicInteger state = new AtomicInteger(NEW);
  private final AtomicBoolean finished = new AtomicBoolean();
  private volatile CompletableFuture<ConcurrencyGate.Permit> permitFuture;
  private final ConcurrencyGate.Permit granted;
  /** The global lease being asked for (shared limits), to stop asking on cancel. */
  private volatile java.util.concurrent.CompletableFuture<dev.llmrelay.core.internal.shared.SharedLimits.Lease> leaseFuture;
  /** Set by execute(): the caller's thread waits for the global lease itself. */
  private volatile boolean blocking;

  // ---- only the thread running the exchange ------------------------------------------------
  private final ClientWriter writer;
  private ConcurrencyGate.Permit permit;
  private dev.llmrelay.core.internal.shared.SharedLimits.Lease lease;
  private AttemptLoop attempts;
  private long queueWaitNanos;
  private OpenStream openStream;
  private boolean streamed;
  private Outcome outcome;
  private int status;
  private String errorCode;
  private String midStreamCause;
  private TokenUsage tokens;
  private final List<String> continuations = new ArrayList<>(1);

  RealExchange(RealUpstreamClient client, ClientRequest clientRequest, ResponseSink sink) {
    this(client, clientRequest, sink, null);
  }

  /**
   * An exchange that runs on a permit its caller already holds (a job, which never waits in the
   * interactive queue); the exchange releases it like its own.
   */
  RealExchange(
      RealUpstreamClient client, ClientRequest clientRequest, ResponseSink sink, ConcurrencyGate.Permit granted) {
    this.granted = granted;
    this.client = client;
    this.config = client.config();
    this.clientRequest = clientRequest;
    this.writer = new ClientWriter(sink, control);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  @Override
  public UpstreamExchange start() {
    begin();
    CompletableFuture<ConcurrencyGate.Permit> f = permitFuture;
    if (f == null) {
      return this; // stopped before it started
    }
    // Continue on an exchange thread: a permit is often granted on the thread of the exchange
    // that released it, and a wait expires on the shared scheduler; neither may run this one.
    f.whenCompleteAsync(this::onPermit, client.exchangeExecutor());
    return this;
  }

  @Override
  public ExchangeResult execute() {
    blocking = true;
    begin();
    CompletableFuture<ConcurrencyGate.Permit> f = permitFuture;
    if (f != null) {
      ConcurrencyGate.Permit granted = null;
      Throwable error = null;
      try {
        granted = f.join(); // waits on this thread: virtual threads wait for free
      } catch (CancellationException | CompletionException e) {
        error = e;
      }
      onPermit(granted, error);
    }
    return completion.join();
  }

  /** Registers the exchange and asks for a permit (none when it was stopped first). */
  private void begin() {
    if (!state.compareAndSet(NEW, STARTED)) {
      throw new IllegalStateException("exchange " + clientRequest.requestId() + " was already started");
    }
    if (!client.register(this)) {
      control.abort(); // the client is closed
    }
    if (control.stopped()) {
      if (granted != null) {
        granted.close();
      }
      onPermit(null, new CancellationException("stopped before it started"));
      return;
    }
    CompletableFuture<ConcurrencyGate.Permit> f =
        granted != null ? CompletableFuture.completedFuture(granted) : client.gate().acquire(clientRequest.requestId());
    permitFuture = f;
    if (control.stopped()) {
      f.cancel(false); // a stop that ran before permitFuture was set could not do this
    }
  }

  @Override
  public void cancel() {
    if (finished.get()) {
      return;
    }
    control.cancel();
    stopWaiting();
  }

  /**
   * Stops the exchange because the client is closing. Unlike {@link #cancel()} the client is
   * still told: 503 {@code relay_closed} before the commit point, an in-band error event after.
   */
  void abort() {
    if (finished.get()) {
      return;
    }
    control.abort();
    stopWaiting();
  }

  private void stopWaiting() {
    CompletableFuture<ConcurrencyGate.Permit> pf = permitFuture;
    if (pf != null) {
      pf.cancel(false);
    }
    CompletableFuture<dev.llmrelay.core.internal.shared.SharedLimits.Lease> lf = leaseFuture;
    if (lf != null) {
      lf.cancel(false); // a lease granted meanwhile is given back by SharedLimits
    }
  }

  @Override
  public CompletionStage<ExchangeResult> completion() {
    return completion;
  }

  private void onPermit(ConcurrencyGate.Permit granted, Throwable error) {
    queueWaitNanos = System.nanoTime() - startNanos;
    permit = granted;
    boolean waitingForLease = false;
    try {
      if (error != null) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof RelayException byGate && !control.stopped()) {
          fail(Failures.rejected(byGate));
        } else {
          stopped();
        }
      } else if (control.stopped() || client.isClosed()) {
        control.abort();
        stopped();
      } else if (client.shared() != null) {
        waitingForLease = askForLease();
      } else {
        run();
      }
    } finally {
      if (!waitingForLease) {
        finish();
      }
    }
  }

  /**
   * Asks for the global lease after the local permit, within the same wait budget. On the caller's
   * thread (execute) it waits here and runs; otherwise it returns true and the exchange goes on
   * when the lease arrives, on an exchange thread.
   */
  private boolean askForLease() {
    // A job (it came with a permit it took without waiting) asks once and never waits: refused,
    // it goes back to its queue rather than holding a local permit and a job slot meanwhile.
    long deadline = granted != null ? startNanos : startNanos + config.maxWait().toNanos();
    CompletableFuture<dev.llmrelay.core.internal.shared.SharedLimits.Lease> f =
        client.shared().acquire(clientRequest.requestId(), deadline, startNanos);
    leaseFuture = f;
    if (control.stopped()) {
      f.cancel(false); // a stop that ran before leaseFuture was set could not do this
    }
    if (blocking) {
      dev.llmrelay.core.internal.shared.SharedLimits.Lease got = null;
      Throwable error = null;
      try {
        got = f.join();
      } catch (CancellationException | CompletionException e) {
        error = e;
      }
      onLease(got, error);
      return false;
    }
    f.whenCompleteAsync((got, error) -> {
      try {
        onLease(got, error);
      } finally {
        finish();
      }
    }, client.exchangeExecutor());
    return true;
  }

  private void onLease(dev.llmrelay.core.internal.shared.SharedLimits.Lease got, Throwable error) {
    lease = got;
    queueWaitNanos = System.nanoTime() - startNanos;
    if (error != null) {
      Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
      if (cause instanceof RelayException refused && !control.stopped()) {
        fail(Failures.rejected(refused));
      } else {
        stopped();
      }
    } else if (control.stopped() || client.isClosed()) {
      control.abort();
      stopped();
    } else {
      run();
    }
  }

  /** Runs the attempts and delivers their result; every failure ends here, once. */
  private void run() {
    attempts = new AttemptLoop(client, clientRequest, control, new AttemptLog(clientRequest.requestId(), client.debugMode()));
    try {
      AttemptOutcome result = attempts.first();
      if (result instanceof AttemptOutcome.Streaming s) {
        stream(s);
      } else if (result instanceof AttemptOutcome.Answer a) {
        answer(a);
      } else {
        fail(Failures.attemptsFailed(((AttemptOutcome.Failed) result).failure(), attempts.attempts(),
            attempts.maxAttemptsShown(), AttemptLoop.ATTEMPTS_EXHAUSTED.equals(attempts.stopReason())));
      }
    } catch (ClientWriter.ClientGone gone) {
      control.cancel();
      log.debug("request {}: client went away: {}", clientRequest.requestId(), gone.getMessage());
      outcome = Outcome.CLIENT_CANCELLED;
    } catch (CancellationException stoppedMeanwhile) {
      stopped();
    } catch (UpstreamCircuitOpenException open) {
      fail(Failures.circuitOpen(open, attempts.attempts()));
    } catch (RuntimeException | Error bug) {
      log.error("request {}: unexpected failure inside the exchange", clientRequest.requestId(), bug);
      if (writer.committed()) {
        outcome = Outcome.INTERNAL_ERROR;
        errorCode = "internal_error";
        closeQuietly();
      } else {
        fail(Failures.unexpected(bug, attempts.attempts()));
      }
    } finally {
      if (openStream != null) {
        openStream.abandon(); // a stream left open by a failure; a finished one was released
      }
    }
  }

  /** The exchange was stopped: the client went away, or the relay is closing and tells it so. */
  private void stopped() {
    if (control.cancelled()) {
      outcome = Outcome.CLIENT_CANCELLED;
    } else if (!writer.committed()) {
      fail(Failures.closed());
    } else if (outcome == null) {
      outcome = Outcome.CLIENT_CANCELLED;
    }
  }

  // ---- delivery ----------------------------------------------------------------------------

  /** A complete upstream answer: checked, then passed on whole. */
  private void answer(AttemptOutcome.Answer a) {
    int code = a.status();
    boolean exhausted = a.retryableStatus() && AttemptLoop.ATTEMPTS_EXHAUSTED.equals(attempts.stopReason());
    control.phase(ExchangeControl.Phase.STREAMING);
    boolean json = UpstreamAttempt.isJson(a.headers());
    if (code >= 400 && !JsonBodies.inspect(a.body()).valid()) {
      fail(Failures.notJsonError(code, a.retryAfter(), exhausted, attempts.attempts()));
      return;
    }
    if (code >= 200 && code < 300 && json) {
      JsonBodies.Inspection inspection = JsonBodies.inspect(a.body());
      if (!inspection.valid()) {
        fail(Failures.invalidJson(code, attempts.attempts()));
        return;
      }
      tokens = inspection.usage();
    }
    outcome = Failures.forStatus(code);
    status = code;
    writer.start(code, clientHeaders(a.headers(), exhausted));
    writer.write(a.body());
    writer.complete();
  }

  /** A stream at its commit point: relayed to its end, continued on other routes if it breaks. */
  private void stream(AttemptOutcome.Streaming first) {
    streamed = true;
    status = first.status();
    control.phase(ExchangeControl.Phase.STREAMING);
    boolean isChat = clientRequest.endpoint() == Endpoint.CHAT_COMPLETIONS;
    ChatStreamState chat = config.streamContinuation() && isChat ? new ChatStreamState() : null;
    StreamRelay relay = new StreamRelay(writer, control, config, chat);
    List<String> servedBy = new ArrayList<>(2);
    servedBy.add(attempts.current().name());
    OpenStream source = first.stream();
    openStream = source;
    byte[] firstPayload = source.scanner.firstDataPayload();
    source.watchdog.pause();
    writer.start(first.status(), clientHeaders(first.headers(), false)); // the commit point
    boolean continued = false;
    List<ObjectNode> held = List.of();
    while (true) {
      AttemptFailure broke;
      try {
        broke = relay.relay(source, continued, held);
      } catch (CancellationException e) {
        if (!control.aborting() || control.cancelled()) {
          throw e;
        }
        broke = new AttemptFailure(AttemptFailure.Kind.SHUTDOWN, "the relay is shutting down", null);
      }
      if (continued) {
        continuations.add(broke == null ? "success" : "broken");
      }
      if (broke == null) {
        if (continued) {
          writer.write((": llmrelay routes=" + String.join(",", servedBy) + "\n\ndata: [DONE]\n\n")
              .getBytes(java.nio.charset.StandardCharsets.UTF_8));
          log.info("request {}: stream continued to its end; routes {}", clientRequest.requestId(), servedBy);
        }
        writer.flush();
        writer.complete();
        attempts.current().breaker.success();
        outcome = Outcome.SUCCESS;
        streamTokens(source.scanner);
        source.release();
        openStream = null;
        return;
      }
      source.abandon(); // close the broken upstream before anyone else writes into this stream
      streamTokens(source.scanner);
      AttemptOutcome next;
      try {
        next = continueAfter(broke, chat);
      } catch (CancellationException e) {
        if (control.cancelled()) {
          throw e;
        }
        next = null; // the relay is closing: the client still gets the in-band error
      }
      if (!(next instanceof AttemptOutcome.Streaming s)) {
        interrupted(control.aborting() ? new AttemptFailure(AttemptFailure.Kind.SHUTDOWN, "the relay is shutting down", null) : broke,
            firstPayload, isChat);
        return;
      }
      source = s.stream();
      openStream = source;
      held = s.held();
      continued = true;
      control.phase(ExchangeControl.Phase.STREAMING);
      servedBy.add(attempts.current().name());
    }
  }

  /** Asks for the rest of a broken stream, or says why it cannot be continued (null). */
  private AttemptOutcome continueAfter(AttemptFailure broke, ChatStreamState chat) {
    if (broke.kind == AttemptFailure.Kind.SHUTDOWN) {
      return null;
    }
    if (chat == null || broke.kind == AttemptFailure.Kind.TOO_LARGE || control.stopped()) {
      attempts.current().breaker.failure();
      return null;
    }
    String refusal = chat.notContinuable(config.maxContinuationChars());
    ObjectNode prefilled = refusal == null ? attempts.requests().prefilled(chat.content()) : null;
    if (prefilled == null) {
      attempts.current().breaker.failure();
      continuations.add("not_continuable");
      log.info("request {}: the broken stream is not continued: {}", clientRequest.requestId(),
          refusal != null ? refusal : "the request has no messages to continue");
      return null;
    }
    log.warn("request {}: stream broke after {} characters ({}); asking for the rest",
        clientRequest.requestId(), chat.length(), broke.getMessage());
    return attempts.continuation(broke, prefilled, chat, continuations);
  }

  /** Ends a broken stream with the in-band error event, and no [DONE]. */
  private void interrupted(AttemptFailure broke, byte[] firstPayload, boolean isChat) {
    outcome = Outcome.MIDSTREAM_FAILURE;
    midStreamCause = broke.kind.reason;
    log.warn("request {}: stream interrupted after {} bytes: {}", clientRequest.requestId(), writer.bytes(), broke.getMessage());
    writer.write(ErrorEvents.interrupted(firstPayload, "relay-" + clientRequest.requestId(), clientRequest.model(), isChat,
        broke.getMessage()));
    writer.flush();
    writer.complete();
  }

  private void streamTokens(SseEventScanner scanner) {
    byte[] usage = scanner.usagePayload();
    if (usage != null) {
      tokens = JsonBodies.inspect(usage).usage();
    }
  }

  private Map<String, List<String>> clientHeaders(Headers upstreamHeaders, boolean exhausted) {
    Map<String, List<String>> out = HopByHopHeaders.endToEnd(upstreamHeaders, NOT_FORWARDED_DOWN);
    String upstreamId = upstreamHeaders.get("x-request-id");
    if (upstreamId != null) {
      out.put("X-Upstream-Request-Id", List.of(upstreamId));
    }
    out.put("X-Relay-Attempts", List.of(Integer.toString(attempts.attempts())));
    Route route = attempts.current();
    if (route != null && attempts.routed()) {
      out.put("X-Relay-Upstream", List.of(route.upstream.name()));
      if (route.model != null) {
        out.put("X-Relay-Model", List.of(route.model));
      }
    }
    if (exhausted) {
      out.put("x-should-retry", List.of("false"));
    }
    return out;
  }

  // ---- endings -----------------------------------------------------------------------------

  private void fail(Failures.Ending ending) {
    outcome = ending.outcome();
    status = ending.error().status();
    errorCode = ending.error().code();
    if (control.cancelled()) {
      outcome = Outcome.CLIENT_CANCELLED;
      return;
    }
    try {
      writer.fail(ending.error());
    } catch (RuntimeException e) {
      log.warn("request {}: the sink failed to render {}", clientRequest.requestId(), ending.error().code(), e);
    }
  }

  private void closeQuietly() {
    try {
      writer.complete();
    } catch (RuntimeException ignored) {
      // the response is already committed; nothing more can be said
    }
  }

  private void finish() {
    if (!finished.compareAndSet(false, true)) {
      return;
    }
    if (lease != null) {
      lease.release(); // the global lease first, then the local permit
    }
    if (permit != null) {
      permit.close();
    }
    client.exchangeEnded(this);
    Outcome o = outcome == null ? Outcome.CLIENT_CANCELLED : outcome;
    boolean gone = o == Outcome.CLIENT_CANCELLED;
    AttemptLoop a = attempts;
    ExchangeResult result = ExchangeResult.builder(clientRequest.requestId())
        .request(clientRequest.endpoint().method(), clientRequest.endpoint().clientPath())
        .model(clientRequest.model(), clientRequest.streamRequested())
        .outcome(o, gone && !streamed ? 0 : status, gone ? null : errorCode)
        .attempts(a == null ? List.of() : a.trail(), a == null ? null : a.stopReason())
        .streamed(streamed)
        .timings(
            Duration.ofNanos(queueWaitNanos),
            a == null || a.headersNanos() < 0 ? null : Duration.ofNanos(a.headersNanos()),
            streamed && a.firstEventNanos() >= 0 ? Duration.ofNanos(a.firstEventNanos()) : null,
            Duration.ofNanos(System.nanoTime() - startNanos))
        .bytesOut(writer.bytes())
        .tokens(tokens)
        .clientGonePhase(gone ? control.phase().metricName : null)
        .midStreamCause(o == Outcome.MIDSTREAM_FAILURE ? midStreamCause : null)
        .continuations(continuations)
        .build();
    client.exchangeFinished(result);
    completion.complete(result);
  }
}
