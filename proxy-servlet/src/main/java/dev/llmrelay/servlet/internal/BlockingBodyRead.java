package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads a client request body on the calling thread, under the same deadline as the non-blocking
 * {@link ClientBodyListener}: no gap between two reads longer than {@code CLIENT_BODY_TIMEOUT_SECONDS}.
 *
 * <p>Why a blocking form at all: on a virtual thread (the launcher on Java 21+) blocking is cheap,
 * and the non-blocking read costs a hand-off to another thread per request (its read callback);
 * the benchmark showed that as 10 to 15 % more CPU per request on Java 25. On a platform thread
 * the servlet always reads without blocking, so slow uploads never hold a pooled thread.
 *
 * <p>The deadline interrupts the reading thread, which ends a blocked read with an exception; the
 * interrupt is taken back (the flag cleared) before this returns, so the thread goes on clean. A
 * state machine decides between the read returning and the timer firing: exactly one wins.
 * Stateless; one call per request.
 */
public final class BlockingBodyRead {
  private static final int READING = 0;
  private static final int DONE = 1;
  private static final int FIRED = 2;

  private BlockingBodyRead() {}

  /**
   * Reads the rest of {@code body} from {@code in} and validates it.
   *
   * @param gap the longest wait for the next bytes; zero means none of our own
   * @param timer where the deadline runs
   * @throws RelayException the reader's 413 / 400, {@link IncompleteBodyException} (400, the body
   *     ended or broke early) or {@link RequestBodyTimeoutException} (408)
   */
  public static ClientBody read(
      ClientRequestReader reader, ClientRequestReader.PartialBody body, InputStream in, Duration gap, ScheduledExecutorService timer) {
    Thread thread = Thread.currentThread();
    AtomicInteger state = new AtomicInteger();
    while (true) {
      state.set(READING);
      ScheduledFuture<?> deadline = schedule(timer, gap, () -> {
        if (state.compareAndSet(READING, FIRED)) {
          thread.interrupt();
        }
      });
      int n;
      IOException failure = null;
      try {
        n = body.readFrom(in);
      } catch (IOException e) {
        n = -1;
        failure = e;
      } finally {
        if (deadline != null) {
          deadline.cancel(false);
        }
      }
      if (!state.compareAndSet(READING, DONE)) {
        Thread.interrupted(); // the timer fired: take its interrupt back
        throw new RequestBodyTimeoutException(gap, failure);
      }
      if (failure != null) {
        throw new IncompleteBodyException(body.size(), body.declaredLength(), failure);
      }
      if (n == -1) {
        return reader.finish(body);
      }
    }
  }

  private static ScheduledFuture<?> schedule(ScheduledExecutorService timer, Duration gap, Runnable fire) {
    if (gap == null || gap.isZero()) {
      return null;
    }
    try {
      return timer.schedule(fire, gap.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException closing) {
      return null; // the servlet is being destroyed
    }
  }
}
