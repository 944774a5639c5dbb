package dev.llmrelay.core.internal;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import okhttp3.Call;

/**
 * What other threads may do to a running exchange, and what they may read of it: stop it (the
 * client went away, or the relay is closing) and see its phase. The exchange's own thread
 * registers each upstream call here and sleeps its backoffs here, so that a stop cancels the call
 * and ends the sleep at once.
 *
 * <p>Why a lock and a condition for the backoff rather than {@code Thread.sleep} and an interrupt:
 * the exchange may run on its caller's thread ({@code execute()}), and an interrupt must never
 * leak to a thread the exchange does not own. Thread-safe.
 */
final class ExchangeControl {
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

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition stoppedCondition = lock.newCondition();
  private volatile boolean cancelled;
  private volatile boolean aborting;
  private volatile Call call;
  private volatile Phase phase = Phase.QUEUED;

  /** The client went away: stop, and send it nothing more. */
  void cancel() {
    cancelled = true;
    wake();
  }

  /** The relay is closing: stop, but still tell the client (503, or an in-band error event). */
  void abort() {
    aborting = true;
    wake();
  }

  private void wake() {
    Call c = call;
    if (c != null) {
      c.cancel();
    }
    lock.lock();
    try {
      stoppedCondition.signalAll();
    } finally {
      lock.unlock();
    }
  }

  boolean cancelled() {
    return cancelled;
  }

  boolean aborting() {
    return aborting;
  }

  /** Cancelled or aborting. */
  boolean stopped() {
    return cancelled || aborting;
  }

  /** Throws {@link CancellationException} when stopped. */
  void checkNotStopped() {
    if (cancelled || aborting) {
      throw new CancellationException("stopped");
    }
  }

  /** Throws {@link CancellationException} when the client went away (the sink takes no call then). */
  void checkNotCancelledByClient() {
    if (cancelled) {
      throw new CancellationException("cancelled");
    }
  }

  /** The upstream call now running; cancelled at once if the exchange is already stopped. */
  void register(Call upstreamCall) {
    this.call = upstreamCall;
    if (stopped()) {
      upstreamCall.cancel();
    }
  }

  Phase phase() {
    return phase;
  }

  void phase(Phase now) {
    this.phase = now;
  }

  /**
   * Waits out a backoff; returns early, throwing {@link CancellationException}, when the exchange
   * is stopped meanwhile.
   */
  void sleep(Duration delay) {
    long remaining = delay.toNanos();
    lock.lock();
    try {
      while (remaining > 0 && !stopped()) {
        remaining = stoppedCondition.awaitNanos(remaining);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancellationException("interrupted during the backoff");
    } finally {
      lock.unlock();
    }
    checkNotStopped();
  }
}
