package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RelayException;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads client request bodies on the calling thread, under the same deadline as the non-blocking
 * {@link ClientBodyListener}: no gap between two reads longer than {@code CLIENT_BODY_TIMEOUT_SECONDS}.
 *
 * <p>Why a blocking form at all: on a virtual thread (the launcher on Java 21+) blocking is cheap,
 * and the non-blocking read costs a hand-off to another thread per request (its read callback);
 * the benchmark showed that as 10 to 15 % more CPU per request on Java 25. On a platform thread
 * the servlet always reads without blocking, so slow uploads never hold a pooled thread.
 *
 * <p>The deadline: every read in progress is registered here, and one sweep every {@code gap / 4}
 * (at most 250 ms) interrupts the thread of a read that has waited longer than the gap, which ends
 * its blocked read with an exception; the interrupt is taken back (the flag cleared) before {@link
 * #read} returns, so the thread goes on clean. One periodic sweep instead of a timer per read: a
 * timer armed and cancelled per request woke the timer thread per request (system time the
 * benchmark showed). A state machine per read decides between the read returning and the sweep
 * firing: exactly one wins. The deadline is therefore kept to within a quarter of the gap.
 *
 * <p>Thread-safe; {@link #close()} stops the sweep.
 */
public final class BlockingBodyRead implements AutoCloseable {
  private static final int READING = 0;
  private static final int DONE = 1;
  private static final int FIRED = 2;

  private final Duration gap;
  private final Set<Read> reads = ConcurrentHashMap.newKeySet();
  private final ScheduledThreadPoolExecutor sweeper;
  private final ServletThreads sweeperThreads;
  private final ScheduledFuture<?> sweep;

  /** @param gap the longest wait for the next bytes; zero means none of our own */
  public BlockingBodyRead(Duration gap) {
    this.gap = gap;
    if (gap == null || gap.isZero()) {
      this.sweeper = null;
      this.sweeperThreads = null;
      this.sweep = null;
      return;
    }
    this.sweeperThreads = new ServletThreads("llmrelay-body-deadline");
    this.sweeper = new ScheduledThreadPoolExecutor(1, sweeperThreads);
    long every = Math.max(10, Math.min(250, gap.toMillis() / 4));
    this.sweep = sweeper.scheduleWithFixedDelay(this::sweep, every, every, TimeUnit.MILLISECONDS);
  }

  /** One read in progress: its thread, when it last saw bytes, and who ended it. */
  private static final class Read {
    final Thread thread = Thread.currentThread();
    final AtomicInteger state = new AtomicInteger(READING);
    volatile long since = System.nanoTime();
  }

  private void sweep() {
    long now = System.nanoTime();
    long limit = gap.toNanos();
    for (Read r : reads) {
      if (now - r.since > limit && r.state.compareAndSet(READING, FIRED)) {
        r.thread.interrupt();
      }
    }
  }

  /**
   * Reads the rest of {@code body} from {@code in} and validates it.
   *
   * @throws RelayException the reader's 413 / 400, {@link IncompleteBodyException} (400, the body
   *     ended or broke early) or {@link RequestBodyTimeoutException} (408)
   */
  public ClientBody read(ClientRequestReader reader, ClientRequestReader.PartialBody body, InputStream in) {
    Read read = new Read();
    boolean watched = sweep != null;
    if (watched) {
      reads.add(read);
    }
    try {
      while (true) {
        int n;
        IOException failure = null;
        try {
          n = body.readFrom(in);
        } catch (IOException e) {
          n = -1;
          failure = e;
        }
        if (read.state.get() == FIRED) {
          break;
        }
        read.since = System.nanoTime();
        if (failure != null) {
          throw new IncompleteBodyException(body.size(), body.declaredLength(), failure);
        }
        if (n == -1) {
          if (!read.state.compareAndSet(READING, DONE)) {
            break; // fired just now
          }
          return reader.finish(body);
        }
      }
      Thread.interrupted(); // the sweep fired: take its interrupt back
      throw new RequestBodyTimeoutException(gap, null);
    } finally {
      if (watched) {
        reads.remove(read);
        if (!read.state.compareAndSet(READING, DONE) && read.state.get() == FIRED) {
          Thread.interrupted(); // a sweep that fired as the read ended: never leave its interrupt
        }
      }
    }
  }

  /** Stops the sweep and waits (at most 2 s) for its thread to end. */
  @Override
  public void close() {
    if (sweeper != null) {
      sweeper.shutdownNow();
      sweeperThreads.awaitEnd(java.time.Duration.ofSeconds(2));
    }
  }

  /** For tests: the sweep's threads still alive. */
  int aliveThreads() {
    return sweeperThreads == null ? 0 : sweeperThreads.alive();
  }

  /** For tests: reads in progress. */
  int inProgress() {
    return reads.size();
  }
}
