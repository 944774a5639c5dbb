package dev.llmrelay.core.internal;

import dev.llmrelay.core.RelayConfig;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLException;
import okhttp3.Call;
import okhttp3.Headers;
import okhttp3.Request;
import okhttp3.Response;
import okio.Buffer;
import okio.BufferedSource;

/**
 * One upstream request and its response, up to the point where the relay can judge it: a
 * non-streamed body read whole (bounded by {@code MAX_RESPONSE_BYTES}), or a stream read up to its
 * first {@code data:} event (the commit point). It reports what happened ({@link AttemptOutcome})
 * and decides nothing: whether another attempt follows is the {@link AttemptLoop}'s business.
 *
 * <p>Its waits are bounded by timers on the client's scheduler that cancel the call: the header
 * deadline (connect, TLS, request write and the wait for headers), the first-event deadline and
 * the idle watchdog (body silences). Not thread-safe: one per attempt, on the exchange's thread.
 */
final class UpstreamAttempt {
  private final RealUpstreamClient client;
  private final RelayConfig config;
  private final ExchangeControl control;
  private final long startNanos = System.nanoTime();
  private long headersNanos = -1;
  private long firstEventNanos = -1;

  UpstreamAttempt(RealUpstreamClient client, ExchangeControl control) {
    this.client = client;
    this.config = client.config();
    this.control = control;
  }

  /** Time from sending to the response headers, or -1 when none arrived. */
  long headersNanos() {
    return headersNanos;
  }

  /** Time from sending to the first data event of a stream, or -1. */
  long firstEventNanos() {
    return firstEventNanos;
  }

  long startNanos() {
    return startNanos;
  }

  /**
   * Sends {@code upstreamRequest} and reads its response as far as the commit point.
   *
   * @throws CancellationException when the exchange was stopped meanwhile
   */
  AttemptOutcome execute(Request upstreamRequest, Duration headerTimeout) {
    Call call = client.okHttp().newCall(upstreamRequest);
    control.register(call);
    control.checkNotStopped();
    HeaderDeadline deadline = new HeaderDeadline(call, headerTimeout, client.scheduler());
    Response upstreamResponse;
    try {
      upstreamResponse = call.execute();
    } catch (IOException | RuntimeException e) {
      if (!deadline.disarm()) {
        control.checkNotStopped();
        return headerTimeout(headerTimeout);
      }
      return failed(classify(e, ""));
    }
    if (!deadline.disarm()) {
      // The timer fired just as the headers arrived: a timeout. Cancel before closing, or closing
      // would first try to drain the body the timer's cancel is about to cut.
      call.cancel();
      upstreamResponse.close();
      control.checkNotStopped();
      return headerTimeout(headerTimeout);
    }
    headersNanos = System.nanoTime() - startNanos;
    return read(call, upstreamResponse);
  }

  private AttemptOutcome headerTimeout(Duration timeout) {
    client.recorder().attemptTimeout();
    return new AttemptOutcome.Failed(new AttemptFailure(
        AttemptFailure.Kind.TIMEOUT, "no response headers within " + Durations.seconds(timeout), null));
  }

  private AttemptOutcome read(Call call, Response upstreamResponse) {
    int code = upstreamResponse.code();
    Headers headers = upstreamResponse.headers();
    String contentType = headers.get("Content-Type");
    boolean sse = code >= 200 && code < 300 && contentType != null
        && contentType.regionMatches(true, 0, "text/event-stream", 0, 17);
    IdleWatchdog watchdog = new IdleWatchdog(call, config.streamIdleTimeout().toNanos(), client.scheduler());
    FirstEventDeadline firstEvent = null;
    boolean keepOpen = false;
    boolean clean = false;
    try {
      if (sse) {
        if (!config.firstEventTimeout().isZero()) {
          firstEvent = new FirstEventDeadline(call, config.firstEventTimeout(), client.scheduler());
        }
        OpenStream stream = new OpenStream(upstreamResponse, call, new SseEventScanner(OpenStream.READ_SIZE * 2), watchdog);
        while (!stream.scanner.hasDataEvent()) {
          if (stream.read() == -1) {
            throw new AttemptFailure(AttemptFailure.Kind.EOF, "the stream ended before its first data event", null);
          }
          if (stream.scanner.size() > config.maxResponseBytes()) {
            throw new AttemptFailure(AttemptFailure.Kind.BAD_RESPONSE,
                "the upstream stream sent more than MAX_RESPONSE_BYTES before its first event", null);
          }
        }
        keepOpen = true;
        firstEventNanos = System.nanoTime() - startNanos;
        return new AttemptOutcome.Streaming(code, headers, stream);
      }
      Buffer body = new Buffer();
      BufferedSource source = upstreamResponse.body().source();
      long max = config.maxResponseBytes();
      while (source.read(body, OpenStream.READ_SIZE) != -1) {
        watchdog.touch();
        if (body.size() > max) {
          throw new AttemptFailure(AttemptFailure.Kind.BAD_RESPONSE,
              "the upstream response is larger than MAX_RESPONSE_BYTES (" + max + " bytes)", null);
        }
      }
      clean = true;
      Duration retryAfter = code == 429 || code == 503 ? RetryAfter.parse(headers, client.clock()).orElse(null) : null;
      return new AttemptOutcome.Answer(code, headers, body.readByteArray(), retryAfter);
    } catch (AttemptFailure f) {
      return failed(f);
    } catch (IOException e) {
      control.checkNotStopped();
      if (firstEvent != null && firstEvent.fired()) {
        client.recorder().attemptTimeout();
        return failed(new AttemptFailure(AttemptFailure.Kind.FIRST_EVENT_TIMEOUT,
            "no data event within " + Durations.seconds(config.firstEventTimeout()) + " of the response headers", e));
      }
      if (watchdog.fired()) {
        client.recorder().attemptTimeout();
        return failed(new AttemptFailure(AttemptFailure.Kind.IDLE_TIMEOUT,
            "the response body was silent for " + Durations.seconds(config.streamIdleTimeout()), e));
      }
      return failed(classify(e, "the response body broke: "));
    } finally {
      if (firstEvent != null) {
        firstEvent.cancel();
      }
      if (!keepOpen) {
        watchdog.close();
        if (!clean) {
          call.cancel();
        }
        upstreamResponse.close();
      }
    }
  }

  private static AttemptOutcome failed(AttemptFailure f) {
    return new AttemptOutcome.Failed(f);
  }

  /** Names an I/O failure of an attempt (the exchange was not stopped: checked by the caller). */
  private AttemptFailure classify(Throwable e, String prefix) {
    control.checkNotStopped();
    if (e instanceof AttemptFailure af) {
      return af;
    }
    if (e instanceof SocketTimeoutException
        || (e instanceof InterruptedIOException && "timeout".equals(e.getMessage()))) {
      client.recorder().attemptTimeout();
      return new AttemptFailure(AttemptFailure.Kind.TIMEOUT, prefix + describe(e), e);
    }
    client.recorder().attemptConnectError();
    if (e instanceof ConnectException || e instanceof UnknownHostException
        || e instanceof NoRouteToHostException || e instanceof SSLException) {
      return new AttemptFailure(AttemptFailure.Kind.CONNECT, prefix + describe(e), e);
    }
    return new AttemptFailure(AttemptFailure.Kind.RESET, prefix + describe(e), e);
  }

  /** An exception named for a log line: its class and its message when it has one, never "(null)". */
  static String describe(Throwable e) {
    String m = e.getMessage();
    String type = e.getClass().getSimpleName();
    return m == null || m.isBlank() ? type : type + ": " + m;
  }

  /**
   * The per-attempt limit on the wait for response headers: cancels the call when it expires,
   * unless {@link #disarm()} came first. Exactly one of the two wins. (A Failsafe {@code Timeout}
   * did this job before; for a synchronous execution it always runs on Failsafe's global scheduler
   * and cancels its timer through {@code CompletableFuture.cancel}, which builds a {@code
   * CancellationException} with a full stack trace for every attempt that did not time out.)
   */
  private static final class HeaderDeadline implements Runnable {
    private static final int ARMED = 0;
    private static final int DISARMED = 1;
    private static final int FIRED = 2;

    private final Call call;
    private final AtomicInteger state = new AtomicInteger();
    private final ScheduledFuture<?> task;

    HeaderDeadline(Call call, Duration limit, ScheduledExecutorService scheduler) {
      this.call = call;
      ScheduledFuture<?> t;
      try {
        t = scheduler.schedule(this, limit.toNanos(), TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException shutDown) {
        t = null; // the client is closing: close() cancels every call itself
      }
      this.task = t;
    }

    @Override
    public void run() {
      if (state.compareAndSet(ARMED, FIRED)) {
        call.cancel();
      }
    }

    /** Stops the timer; false when it fired first (the call was cancelled for the timeout). */
    boolean disarm() {
      if (state.compareAndSet(ARMED, DISARMED)) {
        if (task != null) {
          task.cancel(false);
        }
        return true;
      }
      return state.get() != FIRED;
    }
  }

  /** Cancels the call when a stream's first data event is late; cancelled at the commit point. */
  private static final class FirstEventDeadline {
    private final ScheduledFuture<?> task;
    private volatile boolean fired;

    FirstEventDeadline(Call call, Duration limit, ScheduledExecutorService scheduler) {
      this.task = scheduler.schedule(() -> {
        fired = true;
        call.cancel();
      }, limit.toNanos(), TimeUnit.NANOSECONDS);
    }

    boolean fired() {
      return fired;
    }

    void cancel() {
      task.cancel(false);
    }
  }

  static boolean isJson(Headers headers) {
    String ct = headers.get("Content-Type");
    return ct != null && ct.toLowerCase(Locale.ROOT).contains("json");
  }
}
