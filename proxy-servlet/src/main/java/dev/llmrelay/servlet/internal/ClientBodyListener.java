package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.InternalRelayException;
import dev.llmrelay.core.RelayException;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads one client request body without holding a container thread: the Servlet non-blocking
 * read ({@link ReadListener} on an async request), so a client that trickles its upload costs a
 * buffer, not one of the container's (on Java 17, few and platform) threads. Without this, some
 * hundred slow uploads starved {@code /health} and every other request (issue 11, defect 9).
 *
 * <p>The body deadline is the relay's own, as nginx's {@code client_body_timeout}: the longest gap
 * between two reads ({@code CLIENT_BODY_TIMEOUT_SECONDS}, counted from {@link #start} for the first
 * bytes), because the container's idle timeout is reset by every byte and, in Jetty, is long. One
 * timer task per request, moved forward lazily: when it fires early it sleeps again for the rest.
 *
 * <p>Ending: exactly one of {@link Continuation#onBody} (the body is complete and valid; called on
 * the container thread that reported its end, where the JSON is parsed) or {@link
 * Continuation#onRejected} (413, 400 {@code invalid_json}, 400 {@code incomplete_body} when the
 * body ended early or the client went away, 408 {@code request_body_timeout}; called on a container
 * thread or the timer's) is called, once, whichever way the read ends first; afterwards every
 * callback is ignored and the timer task is cancelled. Completing the async context is the
 * continuation's business.
 *
 * <p>Thread-safety: the container calls the {@link ReadListener} methods one at a time, possibly
 * on different threads; they alone touch the body buffer. The timer thread and the {@link
 * AsyncListener} methods touch only the atomic and volatile fields.
 */
public final class ClientBodyListener implements ReadListener, AsyncListener {
  private static final Logger log = LoggerFactory.getLogger(ClientBodyListener.class);

  /** What comes after the body: exactly one method is called, once. */
  public interface Continuation {
    /** The body is complete and valid. */
    void onBody(ClientBody body);

    /** The body cannot be used: answer {@code error} (if anyone is left to answer) and count it. */
    void onRejected(RelayException error);
  }

  // Set once.
  private final ClientRequestReader reader;
  private final ServletInputStream in;
  private final Duration timeout;
  private final ScheduledExecutorService timer;
  private final String requestId;
  private final Continuation next;

  // Touched only by the container's ReadListener callbacks, one at a time.
  private final ClientRequestReader.PartialBody body;

  // Touched by container threads and the timer thread.
  private final AtomicBoolean ended = new AtomicBoolean();
  private volatile long lastReadNanos;
  private volatile long received;
  private volatile ScheduledFuture<?> deadline;

  /**
   * @param reader validates the body at its end
   * @param body the body to fill, from {@link ClientRequestReader#start}
   * @param in the request's input stream
   * @param timeout {@code CLIENT_BODY_TIMEOUT_SECONDS}; zero = no deadline of the relay's own
   * @param timer runs the deadline
   * @param requestId for log lines
   * @param next what happens when the read ends
   */
  public ClientBodyListener(
      ClientRequestReader reader,
      ClientRequestReader.PartialBody body,
      ServletInputStream in,
      Duration timeout,
      ScheduledExecutorService timer,
      String requestId,
      Continuation next) {
    this.reader = reader;
    this.body = body;
    this.in = in;
    this.timeout = timeout;
    this.timer = timer;
    this.requestId = requestId;
    this.next = next;
  }

  /**
   * Arms the deadline and starts reading: from now on the container calls back. Call it from the
   * dispatch that started {@code async} (listeners cannot be added later).
   */
  public void start(AsyncContext async) {
    lastReadNanos = System.nanoTime();
    async.addListener(this);
    if (!timeout.isZero()) {
      scheduleDeadline(timeout.toNanos());
    }
    in.setReadListener(this);
  }

  // ---- ReadListener: the container, one call at a time ------------------------------------

  @Override
  public void onDataAvailable() {
    try {
      while (!ended.get() && in.isReady()) {
        int n = body.readFrom(in);
        if (n == -1) {
          return; // onAllDataRead follows
        }
        if (n > 0) {
          received = body.size();
          lastReadNanos = System.nanoTime();
        }
      }
    } catch (RelayException tooLarge) {
      end(tooLarge);
    } catch (IOException e) {
      fail(e);
    } catch (RuntimeException e) {
      if (!ended.get()) {
        log.error("request {}: reading the client body failed unexpectedly", requestId, e);
        end(new InternalRelayException(0, e));
      }
    }
  }

  @Override
  public void onAllDataRead() {
    if (!endOnce()) {
      return;
    }
    ClientBody complete;
    try {
      complete = reader.finish(body);
    } catch (RelayException invalid) {
      next.onRejected(invalid);
      return;
    }
    try {
      next.onBody(complete);
    } catch (RuntimeException bug) {
      // Nothing may escape to the container here: it would call onError, which finds the read
      // ended and does nothing, and the request would hang unanswered with its connection.
      log.error("request {}: unexpected failure after its body was read", requestId, bug);
      next.onRejected(new dev.llmrelay.core.InternalRelayException(0, bug));
    }
  }

  @Override
  public void onError(Throwable failure) {
    fail(failure);
  }

  // ---- AsyncListener: the container ------------------------------------------------------

  @Override
  public void onComplete(AsyncEvent event) {
    // Completed by the container (at shutdown, say) while the body was still being read.
    end(new IncompleteBodyException(received, body.declaredLength(), null));
  }

  @Override
  public void onTimeout(AsyncEvent event) {
    end(new RequestBodyTimeoutException(null, null)); // not expected: the async timeout is 0
  }

  @Override
  public void onError(AsyncEvent event) {
    fail(event.getThrowable());
  }

  @Override
  public void onStartAsync(AsyncEvent event) {
    // the relay never restarts async processing
  }

  // ---- internals -------------------------------------------------------------------------

  private void end(RelayException error) {
    if (endOnce()) {
      next.onRejected(error);
    }
  }

  private boolean endOnce() {
    if (!ended.compareAndSet(false, true)) {
      return false;
    }
    ScheduledFuture<?> d = deadline;
    if (d != null) {
      d.cancel(false);
    }
    return true;
  }

  /**
   * A container read failure ends the read: the container's idle timeout (408), or the client cut
   * the body short (400). Containers report one failure several ways (Tomcat: the read throws, then
   * {@code onError} twice); only the first counts.
   */
  private void fail(Throwable failure) {
    if (!endOnce()) {
      return;
    }
    log.debug(
        "request {}: reading the client body failed after {} bytes: {}", requestId, received, String.valueOf(failure));
    RelayException error = new IncompleteBodyException(received, body.declaredLength(), failure);
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof TimeoutException || t instanceof SocketTimeoutException) {
        error = new RequestBodyTimeoutException(null, failure);
        break;
      }
    }
    next.onRejected(error);
  }

  private void scheduleDeadline(long delayNanos) {
    ScheduledFuture<?> d;
    try {
      d = timer.schedule(this::checkDeadline, delayNanos, TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException shutDown) {
      return; // the servlet is being destroyed: the container's own timeouts remain
    }
    deadline = d;
    if (ended.get()) {
      d.cancel(false); // ended while this was being scheduled
    }
  }

  private void checkDeadline() {
    if (ended.get()) {
      return;
    }
    long left = timeout.toNanos() - (System.nanoTime() - lastReadNanos);
    if (left > 0) {
      scheduleDeadline(left);
      return;
    }
    log.debug("request {}: no client body bytes for {} ms after {} bytes", requestId, timeout.toMillis(), received);
    end(new RequestBodyTimeoutException(timeout, null));
  }
}
