package dev.llmrelay.example;

import dev.llmrelay.servlet.RelayServlet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells the relay servlet when a client closes its connection before its response has started:
 * while its request waits for a permit, sleeps in a backoff or waits for the upstream's headers.
 * The servlet API has no such signal (a vanished client shows only as a failed write), so this
 * Jetty handler offers one through {@link RelayServlet#CLIENT_GONE_HOOK}; the servlet then cancels
 * the exchange (no upstream call if none started, the upstream connection closed if one had).
 *
 * <p>Why a handler has to ask: Jetty does not read from an HTTP/1.1 connection while a request is
 * being handled once its content has been read (it registers read interest again only for the
 * next request), so a client's FIN lies unread in the socket and no request failure listener, no
 * {@code Connection.Listener.onClosed} and no {@code AsyncListener.onError} ever fires. When the
 * servlet registers (its body read, the parser at the end of the message) and the request is still
 * waiting {@value #ARM_DELAY_MILLIS} ms later (most are answered sooner, and a watch costs two
 * changes of the connection's selector registration), this handler asks the endpoint for read
 * interest itself ({@link org.eclipse.jetty.io.EndPoint#tryFillInterested}). When
 * the socket becomes readable it reads one byte: end of stream (a FIN) or a reset means the client
 * is gone; nothing means the wake-up was stale (the selector's readiness from Jetty's own read of
 * this request outlives that read) and the watch waits again; a byte is the start of a pipelined
 * request, which is handed back to Jetty's parser ({@code HttpConnection.onUpgradeTo}), and that
 * connection is watched no further. (A first version asked the socket how many bytes wait,
 * FIONREAD, instead of reading: it says 0 both for a FIN and for nothing, and under load it took
 * live keep-alive connections for closed ones.) RFC 9112 §9.3.2 says a client must not pipeline
 * after a non-idempotent method, so pipelining only ends the watch for a {@code GET /v1/models}. A
 * client that half-closes (sends FIN, keeps reading) is treated as gone, as nginx treats it (499)
 * unless told to ignore client aborts. The watch ends when the response is committed: from there a
 * vanished client shows as a failed write.
 *
 * <p>The read interest is withdrawn before the request's callback completes, so Jetty finds the
 * endpoint free when it registers its own interest for the next request on the connection. Only
 * a plain-TCP HTTP/1.1 connection is watched this way; other connections (TLS, HTTP/2) rely on
 * Jetty's own request failure listener, which reports an HTTP/2 stream reset and any failure
 * Jetty sees itself.
 *
 * <p>On the client gone, the exchange is cancelled first (directly, so that it also works while
 * the exchange runs on the request's own virtual thread: there Jetty's async-error path would
 * wait for the servlet to return), then the connection is closed so that the client gets no
 * empty response and Jetty releases it at once.
 *
 * <p>Thread-safety: a handler serves concurrent requests and has no state of its own; each
 * request's {@code Watch} is touched by the servlet's thread, a selector or pool thread (socket
 * readable) and the thread completing the request; a lock orders registering and withdrawing its
 * read interest.
 */
public final class ClientDisconnectHandler extends Handler.Wrapper {
  private static final Logger log = LoggerFactory.getLogger(ClientDisconnectHandler.class);

  /** The reason the watch's own read interest is withdrawn; never seen by Jetty. */
  private static final Throwable WITHDRAWN = new EofException("client disconnect watch withdrawn") {
    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
  };

  /** How long a request must have waited before its connection is watched. */
  static final long ARM_DELAY_MILLIS = 250;

  /** Wraps {@code handler}, which serves the relay servlet. */
  public ClientDisconnectHandler(Handler handler) {
    super(handler);
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) throws Exception {
    Watch watch = new Watch(request, response);
    request.setAttribute(RelayServlet.CLIENT_GONE_HOOK, watch);
    return super.handle(request, response, new Callback.Nested(callback) {
      @Override
      public void succeeded() {
        watch.withdraw();
        super.succeeded();
      }

      @Override
      public void failed(Throwable x) {
        watch.withdraw();
        super.failed(x);
      }
    });
  }

  /** One request's watch on its client connection; see the class comment. */
  private static final class Watch implements Consumer<Runnable>, Callback {
    private enum State { IDLE, READING, CHECKING, DONE }

    private final Request request;
    private final Response response;
    private final AtomicReference<Runnable> onClientGone = new AtomicReference<>();

    // Guarded by lock: registering our read interest and withdrawing it must not interleave, or
    // an interest registered just after the withdrawal would still hold the endpoint when Jetty
    // asks for read interest for the next request (ReadPendingException).
    private final ReentrantLock lock = new ReentrantLock();
    private State state = State.IDLE;
    private Scheduler.Task armTask;

    Watch(Request request, Response response) {
      this.request = request;
      this.response = response;
    }

    /** The servlet registers its cancel action, once, after reading the body. */
    @Override
    public void accept(Runnable action) {
      onClientGone.set(action);
      request.addFailureListener(failure -> clientGone("request failed: " + failure));
      Connection connection = request.getConnectionMetaData().getConnection();
      if (!(connection instanceof HttpConnection http1)
          || !(http1.getEndPoint() instanceof SocketChannelEndPoint)) {
        return; // HTTP/2 (failure listener) or TLS (bytes on the socket are not the client's)
      }
      if (!http1.getParser().isComplete() || !http1.isRequestBufferEmpty()) {
        // Content still due (Jetty reads it) or pipelined bytes already buffered (a FIN behind
        // them is the next request's business): nothing to watch.
        return;
      }
      // Watch only a request that is still waiting after a moment: most are answered long before,
      // and a watch costs two changes of the connection's selector registration. The delay is
      // well inside the second in which a vanished client must be noticed.
      Scheduler.Task task = request.getComponents().getScheduler().schedule(this::armIfWaiting, ARM_DELAY_MILLIS, TimeUnit.MILLISECONDS);
      lock.lock();
      try {
        if (state == State.DONE) {
          task.cancel();
        } else {
          armTask = task;
        }
      } finally {
        lock.unlock();
      }
    }

    private void armIfWaiting() {
      if (!response.isCommitted()) {
        arm(State.IDLE);
      }
    }

    /** The socket is readable: a FIN, a reset, a pipelined request, or a stale wake-up. */
    @Override
    public void succeeded() {
      if (!transition(State.READING, State.CHECKING)) {
        return;
      }
      if (response.isCommitted()) {
        // The answer has started: from here a vanished client shows as a failed write, and the
        // connection is about to carry the next request, which must not be mistaken for this one.
        transition(State.CHECKING, State.DONE);
        return;
      }
      // Read one byte ourselves: only a read tells a FIN (-1) from a wake-up that is stale (0: the
      // selector's readiness from Jetty's own read of this request outlives that read). Asking
      // the socket how much waits (FIONREAD) cannot: it says 0 both for a FIN and for nothing.
      ByteBuffer one = ByteBuffer.allocate(1);
      int read;
      try {
        read = endPoint().getChannel().read(one);
      } catch (IOException e) {
        read = -1; // reset: gone as well
      }
      if (read == 0) {
        arm(State.CHECKING); // nothing there: wait for the next readiness
        return;
      }
      if (read > 0) {
        // A pipelined request (RFC 9112 lets a client pipeline behind a GET): the byte is the
        // next request's; hand it to Jetty's parser and watch this connection no further.
        one.flip();
        http1().onUpgradeTo(one);
        transition(State.CHECKING, State.DONE);
        log.debug("a request is pipelined behind a relayed request; not watching that connection further");
        return;
      }
      if (transition(State.CHECKING, State.DONE)) {
        clientGone("client closed its connection");
      }
    }

    /** Our read interest failed: the endpoint closed or failed, or we withdrew it. */
    @Override
    public void failed(Throwable cause) {
      if (cause != WITHDRAWN && transition(State.READING, State.DONE)) {
        clientGone("client connection failed: " + cause);
      }
    }

    @Override
    public InvocationType getInvocationType() {
      // Closing the connection fails the request, and ee10 runs the servlet's async listeners on
      // the calling thread: never on a selector thread.
      return InvocationType.BLOCKING;
    }

    /** The request completes: give the endpoint back to Jetty before it reads the next request. */
    void withdraw() {
      lock.lock();
      try {
        State was = state;
        state = State.DONE;
        if (armTask != null) {
          armTask.cancel();
        }
        if (was == State.READING) {
          endPoint().getFillInterest().onFail(WITHDRAWN);
        }
      } finally {
        lock.unlock();
      }
    }

    /** Registers our read interest if the watch is still in state {@code from}. */
    private void arm(State from) {
      lock.lock();
      try {
        if (state == from) {
          state = endPoint().tryFillInterested(this) ? State.READING : State.DONE;
        }
      } finally {
        lock.unlock();
      }
    }

    private boolean transition(State from, State to) {
      lock.lock();
      try {
        if (state != from) {
          return false;
        }
        state = to;
        return true;
      } finally {
        lock.unlock();
      }
    }

    private HttpConnection http1() {
      return (HttpConnection) request.getConnectionMetaData().getConnection();
    }

    private SocketChannelEndPoint endPoint() {
      return (SocketChannelEndPoint) request.getConnectionMetaData().getConnection().getEndPoint();
    }

    private void clientGone(String why) {
      if (response.isCommitted()) {
        return; // answered (or answering): never close a connection that carries a response
      }
      Runnable action = onClientGone.getAndSet(null);
      if (action == null) {
        return;
      }
      log.debug("client gone before its response: {}", why);
      action.run();
      // No response can reach it; closing through the connection also fails the request in Jetty.
      request.getConnectionMetaData().getConnection().close();
    }
  }
}
