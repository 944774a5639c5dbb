package dev.llmrelay.core.internal.shared;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.shared.SharedState;
import dev.llmrelay.core.shared.SharedStateConfig;
import dev.llmrelay.core.shared.SharedStates;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class SharedLimitsEdgeTest {
  /** The engine takes the permit, but its answer arrives after SHARED_STATE_TIMEOUT_MILLIS. */
  static class SlowAnswers implements SharedState {
    final InJvmSharedState engine = new InJvmSharedState();
    final ScheduledExecutorService late = Executors.newSingleThreadScheduledExecutor();

    @Override
    public CompletionStage<Boolean> tryAcquire(String leaseId, int limit, Duration lease) {
      boolean taken = engine.tryAcquire(leaseId, limit, lease).toCompletableFuture().join();
      CompletableFuture<Boolean> answer = new CompletableFuture<>();
      late.schedule(() -> answer.complete(taken), 400, TimeUnit.MILLISECONDS);
      return answer;
    }

    @Override public CompletionStage<Boolean> renew(String id, Duration lease) { return engine.renew(id, lease); }
    @Override public CompletionStage<Void> release(String id) { return engine.release(id); }
    @Override public CompletionStage<Integer> held() { return engine.held(); }
    @Override public CompletionStage<Void> publishOpenRoute(String r, Duration d) { return engine.publishOpenRoute(r, d); }
    @Override public CompletionStage<Map<String, Duration>> openRoutes() { return engine.openRoutes(); }
    @Override public void close() { late.shutdownNow(); }
  }

  @Test
  void anAcquireThatTimedOutButWasGrantedLateIsGivenBack() throws Exception {
    SlowAnswers state = new SlowAnswers();
    ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2);
    SharedStateConfig config = SharedStateConfig.builder().url("redis://127.0.0.1:1").maxConcurrentRequests(3)
        .timeout(Duration.ofMillis(250)).lease(Duration.ofSeconds(30)).build();
    SharedLimits limits = new SharedLimits(state, config, scheduler, Duration.ofSeconds(10));
    try {
      for (int i = 0; i < 3; i++) {
        SharedLimits.Lease lease = limits.acquire("r" + i, System.nanoTime() + TimeUnit.SECONDS.toNanos(10), System.nanoTime())
            .get(5, TimeUnit.SECONDS);
        assertThat(lease.global()).isFalse(); // fail-open: the request ran under local limits
        lease.release(); // the request ended
      }
      // Every late grant is given back: no permit stays taken for SHARED_PERMIT_LEASE_SECONDS.
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
          .until(() -> state.engine.held().toCompletableFuture().join() == 0);
      assertThat(limits.stats().permitsHeld()).isZero();
    } finally {
      limits.close();
      scheduler.shutdownNow();
    }
  }

  /** An engine whose connection takes a while to open: every answer before 600 ms is late. */
  static final class SlowStart extends SlowAnswers {
    final long readyAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(600);

    private <T> CompletionStage<T> whenReady(java.util.function.Supplier<CompletionStage<T>> call) {
      CompletableFuture<T> answer = new CompletableFuture<>();
      long wait = Math.max(0, readyAt - System.nanoTime());
      late.schedule(() -> call.get().whenComplete((v, e) -> answer.complete(v)), wait, TimeUnit.NANOSECONDS);
      return answer;
    }

    @Override
    public CompletionStage<Boolean> tryAcquire(String leaseId, int limit, Duration lease) {
      return whenReady(() -> engine.tryAcquire(leaseId, limit, lease));
    }

    @Override
    public CompletionStage<Map<String, Duration>> openRoutes() {
      return whenReady(engine::openRoutes);
    }
  }

  @Test
  void requestsArrivingWhileTheEngineConnectionOpensKeepTheCap() throws Exception {
    SlowStart state = new SlowStart();
    ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2);
    SharedStateConfig config = SharedStateConfig.builder().url("redis://127.0.0.1:1").maxConcurrentRequests(1)
        .timeout(Duration.ofMillis(250)).lease(Duration.ofSeconds(30)).build();
    SharedLimits limits = new SharedLimits(state, config, scheduler, Duration.ofSeconds(10));
    try {
      java.util.List<CompletableFuture<SharedLimits.Lease>> asked = new java.util.ArrayList<>();
      for (int i = 0; i < 5; i++) {
        asked.add(limits.acquire("r" + i, System.nanoTime() + TimeUnit.SECONDS.toNanos(2), System.nanoTime()));
      }
      // Whichever asked first once the engine answers gets the one permit...
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> asked.stream().anyMatch(CompletableFuture::isDone));
      Thread.sleep(300); // ...and the other four keep asking meanwhile; none may get in beside it
      java.util.List<CompletableFuture<SharedLimits.Lease>> done = asked.stream().filter(CompletableFuture::isDone).toList();
      assertThat(done).hasSize(1);
      SharedLimits.Lease first = done.get(0).get();
      assertThat(first.global()).as("waited for the engine, did not fail open").isTrue();
      assertThat(limits.stats().up()).isTrue();
      first.release();
      asked.forEach(f -> f.cancel(false));
    } finally {
      limits.close();
      scheduler.shutdownNow();
    }
  }

  @Test
  void aMalformedRedisUrlFailsWithoutItsPassword() {
    SharedStateConfig config = SharedStateConfig.builder().url("redis://:s3cr%t-pw@localhost:6379").maxConcurrentRequests(3).build();
    Throwable t = null;
    try {
      SharedStates.create(config).close();
    } catch (RuntimeException e) {
      t = e;
    }
    assertThat(t).isNotNull();
    assertThat(String.valueOf(t.getMessage())).doesNotContain("s3cr");
  }
}
