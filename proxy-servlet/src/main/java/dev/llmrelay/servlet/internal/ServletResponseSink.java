package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.HopByHop;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.ResponseSink;
import dev.llmrelay.core.UpstreamExchange;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers one exchange's client response through an async {@link HttpServletResponse}, and ties
 * the exchange's life to the client connection.
 *
 * <p>Writing: {@link #onResponse} sets the status and the upstream's end-to-end headers (hop-by-hop
 * headers, every header {@code Connection} names and {@code Content-Length} are skipped again here,
 * whatever the core passed, and {@code X-Request-Id} is always the relay's); {@link #onBody} writes
 * bytes unchanged to the output stream; {@link #flush} pushes them to the client (the core calls it
 * at SSE event boundaries); {@link #onFailure} renders the error through {@link ErrorResponses}.
 * Writes are blocking and run on the thread that runs the exchange (the core's exchange thread,
 * or the request's own virtual thread under {@code UpstreamExchange.execute()}), which is designed for it.
 *
 * <p>Client gone: the servlet API reports a vanished client only as an exception from a write or
 * flush. Any such exception (and an {@link IllegalStateException} from a response the container
 * already closed) is rethrown as an {@link IOException}, which makes the core cancel the upstream
 * call and release the permit at once. The {@link AsyncListener} side does the same when the
 * container reports an async error or timeout.
 *
 * <p>Completion: the {@link AsyncContext} is completed exactly once, by whichever comes first of
 * the terminal sink call ({@link #onComplete}/{@link #onFailure}), the end of the exchange ({@link
 * #attach}: a cancelled exchange makes no terminal call), or an async error or timeout.
 *
 * <p>Thread-safety: the sink methods are called by the core one at a time (see {@link
 * ResponseSink}); the listener methods and {@link #attach} may run on other threads and only touch
 * atomic or volatile state and the thread-safe {@link UpstreamExchange}.
 */
public final class ServletResponseSink implements ResponseSink, AsyncListener {
  private static final Logger log = LoggerFactory.getLogger(ServletResponseSink.class);

  private final AsyncContext asyncContext;
  private final HttpServletResponse clientResponse;
  private final String requestId;
  private final AtomicBoolean completed = new AtomicBoolean();
  private volatile UpstreamExchange exchange;
  private volatile boolean clientGone;
  private ServletOutputStream out;

  /**
   * @param asyncContext the started async context of the client request (timeout 0)
   * @param clientResponse the response to the client
   * @param requestId the request's id, sent as {@code X-Request-Id}
   */
  public ServletResponseSink(AsyncContext asyncContext, HttpServletResponse clientResponse, String requestId) {
    this.asyncContext = asyncContext;
    this.clientResponse = clientResponse;
    this.requestId = requestId;
  }

  /**
   * Binds the exchange this sink serves: cancels it at once when the client already went away, and
   * completes the async context when the exchange ends (whatever way it ends).
   */
  public void attach(UpstreamExchange upstreamExchange) {
    this.exchange = upstreamExchange;
    if (clientGone) {
      upstreamExchange.cancel();
    }
    upstreamExchange.completion().whenComplete((result, error) -> complete());
  }

  // ---- ResponseSink: called by the core, one call at a time ---------------------------------

  @Override
  public void onResponse(int status, Map<String, List<String>> headers) throws IOException {
    checkOpen();
    try {
      clientResponse.setStatus(status);
      // The core hands over end-to-end headers only (ResponseSink's contract); this per-name check
      // is a cheap second line of defence, and the full filter runs only if a Connection header
      // (which names more hop-by-hop headers) slipped through.
      boolean named = false;
      for (String name : headers.keySet()) {
        named |= name.equalsIgnoreCase("connection");
      }
      Map<String, List<String>> endToEnd = named ? HopByHop.endToEnd(headers) : headers;
      endToEnd.forEach((name, values) -> {
        if (HopByHop.isHopByHop(name) || name.equalsIgnoreCase("x-request-id")) {
          return;
        }
        boolean first = true;
        for (String value : values) {
          if (first) {
            clientResponse.setHeader(name, value);
            first = false;
          } else {
            clientResponse.addHeader(name, value);
          }
        }
      });
      clientResponse.setHeader("X-Request-Id", requestId);
    } catch (IllegalStateException e) {
      throw gone(e);
    }
  }

  @Override
  public void onBody(byte[] buffer, int offset, int length) throws IOException {
    checkOpen();
    try {
      out().write(buffer, offset, length);
    } catch (IllegalStateException e) {
      throw gone(e);
    } catch (IOException e) {
      throw gone(e);
    }
  }

  @Override
  public void flush() throws IOException {
    checkOpen();
    try {
      out().flush();
    } catch (IllegalStateException e) {
      throw gone(e);
    } catch (IOException e) {
      throw gone(e);
    }
  }

  @Override
  public void onComplete() throws IOException {
    // No flush here: completing an uncommitted response lets the container send it whole, with
    // a Content-Length instead of chunks (streams were flushed by the core already).
    try {
      checkOpen();
    } finally {
      complete();
    }
  }

  @Override
  public void onFailure(RelayException error) {
    try {
      if (!clientGone && !completed.get()) {
        ErrorResponses.write(clientResponse, error, requestId);
      }
    } catch (IOException | IllegalStateException e) {
      clientGone = true;
      log.debug("request {}: client gone before the {} error could be sent: {}", requestId, error.code(), e.toString());
    } finally {
      complete();
    }
  }

  // ---- AsyncListener: called by the container ----------------------------------------------

  @Override
  public void onComplete(AsyncEvent event) {
    // Completed by the container rather than by this sink (for example at shutdown): the client
    // response is over, so is the exchange.
    if (completed.compareAndSet(false, true)) {
      clientGone = true;
      cancelExchange();
    }
  }

  @Override
  public void onTimeout(AsyncEvent event) {
    clientGone = true;
    cancelExchange();
    complete();
  }

  @Override
  public void onError(AsyncEvent event) {
    clientGone = true;
    log.debug("request {}: async error, cancelling the exchange: {}", requestId, String.valueOf(event.getThrowable()));
    cancelExchange();
    complete();
  }

  /** The container saw the client connection close: cancels the exchange, whatever thread runs it. */
  public void clientGone() {
    clientGone = true;
    cancelExchange();
  }

  /** Gives up on a response the client no longer reads: completes the async context, writes nothing. */
  public void abandon() {
    clientGone = true;
    complete();
  }

  @Override
  public void onStartAsync(AsyncEvent event) {
    // not re-registered: the relay never restarts async processing
  }

  // ---- internals ---------------------------------------------------------------------------

  private ServletOutputStream out() throws IOException {
    if (out == null) {
      out = clientResponse.getOutputStream();
    }
    return out;
  }

  private void checkOpen() throws IOException {
    if (clientGone || completed.get()) {
      throw new IOException("the client response is already closed");
    }
  }

  private IOException gone(Exception e) {
    clientGone = true;
    return e instanceof IOException io ? io : new IOException("the client response is closed: " + e, e);
  }

  private void cancelExchange() {
    UpstreamExchange e = exchange;
    if (e != null) {
      e.cancel();
    }
  }

  private void complete() {
    if (completed.compareAndSet(false, true)) {
      try {
        asyncContext.complete();
      } catch (IllegalStateException e) {
        log.debug("request {}: async context already completed: {}", requestId, e.toString());
      }
    }
  }
}
