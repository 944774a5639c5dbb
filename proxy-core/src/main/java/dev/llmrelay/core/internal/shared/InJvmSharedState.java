package dev.llmrelay.core.internal.shared;

import dev.llmrelay.core.shared.SharedState;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Shared state that nobody else shares: the reference behaviour of the contract, and what an
 * embedder gets in tests. Times are this JVM's monotonic clock. Thread-safe (one lock).
 */
public final class InJvmSharedState implements SharedState {
  private final Map<String, Long> permits = new HashMap<>();
  private final Map<String, Long> openRoutes = new HashMap<>();

  @Override
  public synchronized CompletionStage<Boolean> tryAcquire(String leaseId, int limit, Duration lease) {
    long now = System.nanoTime();
    expire(permits, now);
    if (permits.size() >= limit) {
      return CompletableFuture.completedFuture(false);
    }
    permits.put(leaseId, now + lease.toNanos());
    return CompletableFuture.completedFuture(true);
  }

  @Override
  public synchronized CompletionStage<Boolean> renew(String leaseId, Duration lease) {
    long now = System.nanoTime();
    Long until = permits.get(leaseId);
    if (until == null || until - now <= 0) {
      permits.remove(leaseId);
      return CompletableFuture.completedFuture(false);
    }
    permits.put(leaseId, now + lease.toNanos());
    return CompletableFuture.completedFuture(true);
  }

  @Override
  public synchronized CompletionStage<Void> release(String leaseId) {
    permits.remove(leaseId);
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public synchronized CompletionStage<Integer> held() {
    expire(permits, System.nanoTime());
    return CompletableFuture.completedFuture(permits.size());
  }

  @Override
  public synchronized CompletionStage<Void> publishOpenRoute(String route, Duration openFor) {
    long until = System.nanoTime() + openFor.toNanos();
    openRoutes.merge(route, until, (a, b) -> a - b >= 0 ? a : b);
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public synchronized CompletionStage<Map<String, Duration>> openRoutes() {
    long now = System.nanoTime();
    expire(openRoutes, now);
    Map<String, Duration> open = new HashMap<>();
    openRoutes.forEach((route, until) -> open.put(route, Duration.ofNanos(until - now)));
    return CompletableFuture.completedFuture(open);
  }

  private static void expire(Map<String, Long> deadlines, long now) {
    for (Iterator<Long> it = deadlines.values().iterator(); it.hasNext(); ) {
      if (it.next() - now <= 0) {
        it.remove();
      }
    }
  }

  @Override
  public void close() {}
}
