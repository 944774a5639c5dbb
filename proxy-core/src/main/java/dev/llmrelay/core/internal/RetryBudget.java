package dev.llmrelay.core.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * Caps the retries in flight at the upstream at once to {@code max(RETRY_BUDGET_MIN_RETRIES,
 * RETRY_BUDGET_PERCENT % of the requests in flight)}, as Envoy's retry budget does, so that a
 * failing upstream under load sees a bounded share of extra traffic instead of a retry storm.
 *
 * <p>What counts is what loads the upstream: a retry takes its place when it is sent and gives it
 * back when that attempt ended (its response read, or its stream at its first event). A request
 * sleeping out a backoff holds no place, so requests that fail together and back off together do
 * not refuse each other's retries; and the minimum keeps an otherwise idle proxy's retries whole.
 * Thread-safe.
 */
final class RetryBudget {
  private final AtomicInteger inFlight = new AtomicInteger();
  private final IntSupplier requestsInFlight;
  private final int percent;
  private final int minRetries;
  private final LongAdder denied = new LongAdder();
  private final AtomicInteger maxSeen = new AtomicInteger();

  RetryBudget(IntSupplier requestsInFlight, int percent, int minRetries) {
    this.requestsInFlight = requestsInFlight;
    this.percent = percent;
    this.minRetries = minRetries;
  }

  /** Takes a place for one retry about to be sent; false (and counted) when the budget is spent. */
  boolean tryAcquire() {
    int limit = Math.max(minRetries, requestsInFlight.getAsInt() * percent / 100);
    while (true) {
      int now = inFlight.get();
      if (now >= limit) {
        denied.increment();
        return false;
      }
      if (inFlight.compareAndSet(now, now + 1)) {
        maxSeen.accumulateAndGet(now + 1, Math::max);
        return true;
      }
    }
  }

  /** Gives a place back once the retried attempt ended. */
  void release() {
    inFlight.decrementAndGet();
  }

  /** Retries refused because the budget was spent. */
  long denied() {
    return denied.sum();
  }

  /** Retries in flight now. */
  int inFlight() {
    return inFlight.get();
  }

  /** The most retries ever in flight at once (for tests and diagnostics). */
  int maxSeen() {
    return maxSeen.get();
  }
}
