package dev.llmrelay.core.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * Caps retries in flight at once to {@code max(3, 20 % of requests in flight)}, so that a
 * failing upstream under load sees at most a fifth more traffic from retries instead of a retry
 * storm. A retry holds its place from the decision to retry until that attempt ends. Thread-safe.
 */
final class RetryBudget {
  private final AtomicInteger inFlight = new AtomicInteger();
  private final IntSupplier requestsInFlight;
  private final LongAdder denied = new LongAdder();
  private final AtomicInteger maxSeen = new AtomicInteger();

  RetryBudget(IntSupplier requestsInFlight) {
    this.requestsInFlight = requestsInFlight;
  }

  /** Takes a place for one retry; false (and counted) when the budget is spent. */
  boolean tryAcquire() {
    int limit = Math.max(3, requestsInFlight.getAsInt() / 5);
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

  /** Gives a place back once the retried attempt ended (or will not run). */
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
