package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.ConcurrencyLimitException;
import dev.llmrelay.core.QueueFullException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

class ConcurrencyGateTest {
  private final ScheduledThreadPoolExecutor scheduler = Threads.newScheduler("gate-test-");

  @AfterEach
  void stop() {
    scheduler.shutdownNow();
  }

  private ConcurrencyGate gate(int permits, int queue, Duration wait) {
    return new ConcurrencyGate(permits, queue, wait, Duration.ofSeconds(5), scheduler);
  }

  @Test
  void waitersAreServedInArrivalOrder() throws Exception {
    ConcurrencyGate gate = gate(1, 10, Duration.ofSeconds(5));
    ConcurrencyGate.Permit first = gate.acquire("0").get();
    List<CompletableFuture<ConcurrencyGate.Permit>> waiters = new ArrayList<>();
    List<Integer> order = new java.util.concurrent.CopyOnWriteArrayList<>();
    for (int i = 1; i <= 5; i++) {
      int n = i;
      CompletableFuture<ConcurrencyGate.Permit> f = gate.acquire(String.valueOf(i));
      f.thenAccept(p -> order.add(n));
      waiters.add(f);
    }
    first.close();
    for (CompletableFuture<ConcurrencyGate.Permit> f : waiters) {
      f.get(1, TimeUnit.SECONDS).close();
    }
    assertThat(order).containsExactly(1, 2, 3, 4, 5);
    assertThat(gate.availablePermits()).isEqualTo(1);
  }

  @Test
  void closingAPermitTwiceReturnsItOnce() throws Exception {
    ConcurrencyGate gate = gate(2, 10, Duration.ofSeconds(1));
    ConcurrencyGate.Permit p = gate.acquire("a").get();
    p.close();
    p.close();
    assertThat(gate.availablePermits()).isEqualTo(2);
    assertThat(p.held()).isFalse();
  }

  @Test
  void zeroWaitRejectsAtOnceAndAFullQueueRejectsWithQueueFull() throws Exception {
    ConcurrencyGate noWait = gate(1, 10, Duration.ZERO);
    ConcurrencyGate.Permit held = noWait.acquire("a").get();
    assertThatThrownBy(() -> noWait.acquire("b").get())
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(ConcurrencyLimitException.class);
    held.close();

    ConcurrencyGate noQueue = gate(1, 0, Duration.ofSeconds(1));
    ConcurrencyGate.Permit held2 = noQueue.acquire("a").get();
    assertThatThrownBy(() -> noQueue.acquire("b").get())
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(QueueFullException.class);
    held2.close();
    assertThat(noQueue.availablePermits()).isEqualTo(1);
  }

  @RepeatedTest(5)
  void permitsSurviveRacesBetweenReleaseTimeoutAndCancel() throws Exception {
    // Many waiters with a wait about as long as the hold, some cancelled at random: whatever
    // wins each race, every permit must come back exactly once.
    ConcurrencyGate gate = gate(3, 1000, Duration.ofMillis(20));
    List<CompletableFuture<ConcurrencyGate.Permit>> all = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      CompletableFuture<ConcurrencyGate.Permit> f = gate.acquire("r" + i);
      all.add(f);
      f.thenAccept(p -> scheduler.schedule(p::close, 1, TimeUnit.MILLISECONDS));
      if (i % 7 == 0) {
        f.cancel(false);
      }
    }
    for (CompletableFuture<ConcurrencyGate.Permit> f : all) {
      try {
        f.get(5, TimeUnit.SECONDS);
      } catch (ExecutionException | java.util.concurrent.CancellationException expected) {
        // timed out or cancelled
      }
    }
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(3)).until(() -> gate.availablePermits() == 3);
    assertThat(gate.queued()).isZero();
  }

  @Test
  void aClosedGateFailsWaitersAndNewcomersWithRelayClosedAndLeaksNoPermit() throws Exception {
    ConcurrencyGate gate = gate(1, 10, Duration.ofSeconds(5));
    ConcurrencyGate.Permit held = gate.acquire("a").get();
    CompletableFuture<ConcurrencyGate.Permit> waiter = gate.acquire("b");

    gate.close();

    assertThatThrownBy(() -> waiter.get(1, TimeUnit.SECONDS)).hasCauseInstanceOf(dev.llmrelay.core.RelayClosedException.class);
    assertThatThrownBy(() -> gate.acquire("c").get(1, TimeUnit.SECONDS)).hasCauseInstanceOf(dev.llmrelay.core.RelayClosedException.class);
    assertThat(gate.queued()).isZero();
    held.close();
    assertThat(gate.availablePermits()).as("the released permit is not handed to a ghost").isEqualTo(1);
  }
}
