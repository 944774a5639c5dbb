package dev.llmrelay.example.simulate;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request to the simulator, from {@code handle} until Jetty's callback is completed, exactly
 * once, in one of four ways: answered ({@link #succeed()}), client gone ({@link #clientGone}),
 * connection closed on purpose ({@link #closeConnection}) or an unexpected error.
 *
 * <p>No thread waits on an exchange. Delays (latency, gaps between stream events, the hold of a
 * "timeout") are tasks on Jetty's {@link Scheduler}; writes are asynchronous and continue from
 * their callbacks. A held request learns that its client went away from a read-interest callback
 * on its connection, so holding costs neither a thread nor polling.
 *
 * <p>Thread-safe: the steps of an answer run one after another (each is started by the completion
 * of the previous one); the ending is decided by one compare-and-set, so a late timer, a client
 * disconnect and {@link SimulatedUpstream#close()} can race without completing twice.
 */
final class SimulatedExchange {
  private static final Logger log = LoggerFactory.getLogger(SimulatedExchange.class);
  private static final int PROBE_BYTES = 512;

  private final SimulatorHandler handler;
  private final Request request;
  private final Response response;
  private final Callback callback;
  private final Scheduler scheduler;
  private final AtomicBoolean finished = new AtomicBoolean();
  private volatile Scheduler.Task pendingTask;

  SimulatedExchange(
      SimulatorHandler handler,
      Request request,
      Response response,
      Callback callback,
      Scheduler scheduler) {
    this.handler = handler;
    this.request = request;
    this.response = response;
    this.callback = callback;
    this.scheduler = scheduler;
  }

  Request request() {
    return request;
  }

  Response response() {
    return response;
  }

  boolean isFinished() {
    return finished.get();
  }

  /** Runs {@code action} after {@code delay}; at once, on this thread, when the delay is zero. */
  void afterLatency(Duration delay, Runnable action) {
    if (delay.isZero()) {
      runGuarded(action);
    } else {
      schedule(delay, action);
    }
  }

  /**
   * Runs {@code action} on the scheduler after {@code delay}, even a zero one, so that a chain of
   * writes that complete at once cannot grow the stack.
   */
  void schedule(Duration delay, Runnable action) {
    if (finished.get()) {
      return;
    }
    pendingTask =
        scheduler.schedule(() -> runGuarded(action), delay.toNanos(), TimeUnit.NANOSECONDS);
    if (finished.get()) { // lost a race with an ending that did not see this task
      pendingTask.cancel();
    }
  }

  /** Sends a complete body with a {@code Content-Length}, then ends the exchange. */
  void send(int status, String contentType, byte[] body, SimulatedAnswer answer) {
    if (finished.get()) {
      return;
    }
    prepareHeaders(status, contentType, answer);
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
    response.write(true, ByteBuffer.wrap(body), whenWritten(this::succeed));
  }

  /**
   * Announces all of {@code body} with a {@code Content-Length}, sends the first half, and then
   * closes the connection: the client reads a body cut short.
   */
  void sendTruncated(int status, String contentType, byte[] body, SimulatedAnswer answer) {
    if (finished.get()) {
      return;
    }
    prepareHeaders(status, contentType, answer);
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
    ByteBuffer half = ByteBuffer.wrap(body, 0, body.length / 2);
    response.write(
        false,
        half,
        whenWritten(() -> closeConnection(new EofException("simulated cut of a response body"))));
  }

  /** Sets the status and the headers every answer carries. */
  void prepareHeaders(int status, String contentType, SimulatedAnswer answer) {
    response.setStatus(status);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
    response.getHeaders().put(SimulatedUpstream.ANSWER_HEADER, answer.headerValue());
  }

  /** A write callback that runs {@code next} on success and treats failure as the client gone. */
  Callback whenWritten(Runnable next) {
    return Callback.from(Invocable.InvocationType.NON_BLOCKING, next, this::clientGone);
  }

  /**
   * Holds the request without an answer until the client goes away or {@code cap} passes; then
   * the connection is closed. Nothing is written, so the client sees no headers at all.
   */
  void hold(Duration cap) {
    schedule(cap, () -> closeConnection(new EofException("simulated timeout: held for " + cap)));
    EndPoint endPoint = endPoint();
    if (!watchForClientGone(endPoint, BufferUtil.allocate(PROBE_BYTES))) {
      log.debug(
          "Cannot watch {} for the client going away; relying on Jetty's failure notice", endPoint);
    }
  }

  /**
   * Asks to be called when the held connection becomes readable. The request body has been read,
   * so Jetty is not reading: readable now means the client closed (a read returns -1) or sent
   * bytes nobody will answer (read and dropped, and we keep watching). Returns false when someone
   * else already waits to read, in which case Jetty will notice the close itself.
   */
  private boolean watchForClientGone(EndPoint endPoint, ByteBuffer probe) {
    if (finished.get()) {
      return true;
    }
    return endPoint.tryFillInterested(
        new Callback() {
          @Override
          public void succeeded() {
            if (finished.get()) {
              return;
            }
            try {
              int read = endPoint.fill(probe);
              BufferUtil.clear(probe);
              if (read < 0) {
                clientGone(new EofException("client closed the connection"));
              } else {
                watchForClientGone(endPoint, probe);
              }
            } catch (IOException e) {
              clientGone(e);
            }
          }

          @Override
          public void failed(Throwable cause) {
            clientGone(cause);
          }

          @Override
          public InvocationType getInvocationType() {
            return InvocationType.NON_BLOCKING;
          }
        });
  }

  /** The answer is complete. */
  void succeed() {
    if (end(false)) {
      callback.succeeded();
    }
  }

  /**
   * The client went away (a failed write, a closed connection, Jetty's failure notice): close what
   * is left of the connection and count a client abort.
   */
  void clientGone(Throwable cause) {
    if (end(true)) {
      log.debug("Client of {} {} went away: {}", request.getMethod(), path(), cause.toString());
      endPoint().close(cause);
      callback.failed(cause);
    }
  }

  /**
   * Closes the connection on purpose (a cut, the end of a hold, shutdown). The endpoint is closed
   * before the callback fails so that Jetty, finding the connection gone, does not try to write an
   * error page or log one.
   */
  void closeConnection(Throwable cause) {
    if (end(false)) {
      endPoint().close(cause);
      callback.failed(cause);
    }
  }

  /** An unexpected error in our own code: let Jetty answer 500 if it still can. */
  void failUnexpectedly(Throwable cause) {
    if (end(false)) {
      log.warn("Simulated upstream failed on {} {}", request.getMethod(), path(), cause);
      callback.failed(cause);
    }
  }

  String path() {
    return request.getHttpURI().getPath();
  }

  private void runGuarded(Runnable action) {
    if (finished.get()) {
      return;
    }
    try {
      action.run();
    } catch (RuntimeException | Error e) {
      failUnexpectedly(e);
    }
  }

  private boolean end(boolean clientAbort) {
    if (!finished.compareAndSet(false, true)) {
      return false;
    }
    Scheduler.Task task = pendingTask;
    if (task != null) {
      task.cancel();
    }
    handler.ended(this, clientAbort);
    return true;
  }

  private EndPoint endPoint() {
    return request.getConnectionMetaData().getConnection().getEndPoint();
  }
}
