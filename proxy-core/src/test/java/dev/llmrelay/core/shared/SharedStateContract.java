package dev.llmrelay.core.shared;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What every {@link SharedState} must do; one subclass per implementation, each on a fresh engine. */
abstract class SharedStateContract {
  SharedState state;
  final List<SharedState> others = new ArrayList<>();

  /** A new state on the same (fresh per test) engine. */
  abstract SharedState newState();

  @BeforeEach
  void open() {
    state = newState();
  }

  @AfterEach
  void close() {
    state.close();
    others.forEach(SharedState::close);
  }

  SharedState another() {
    SharedState s = newState();
    others.add(s);
    return s;
  }

  static <T> T get(java.util.concurrent.CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Test
  void permitsUpToTheLimitAndNoMore() throws Exception {
    assertThat(get(state.tryAcquire("a", 2, Duration.ofSeconds(30)))).isTrue();
    assertThat(get(state.tryAcquire("b", 2, Duration.ofSeconds(30)))).isTrue();
    assertThat(get(state.tryAcquire("c", 2, Duration.ofSeconds(30)))).isFalse();
    assertThat(get(state.held())).isEqualTo(2);
    get(state.release("a"));
    assertThat(get(state.tryAcquire("c", 2, Duration.ofSeconds(30)))).isTrue();
    get(state.release("b"));
    get(state.release("c"));
    get(state.release("never-held"));
    assertThat(get(state.held())).isZero();
  }

  @Test
  void concurrentAcquirersNeverExceedTheLimit() throws Exception {
    SharedState other = another();
    List<CompletableFuture<Boolean>> all = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      SharedState s = i % 2 == 0 ? state : other;
      all.add(s.tryAcquire("p" + i, 5, Duration.ofSeconds(30)).toCompletableFuture());
    }
    int granted = 0;
    for (CompletableFuture<Boolean> f : all) {
      granted += f.get(10, TimeUnit.SECONDS) ? 1 : 0;
    }
    assertThat(granted).isEqualTo(5);
    assertThat(get(other.held())).isEqualTo(5);
  }

  @Test
  void anUnrenewedPermitLapsesAndCannotBeRenewedAfterwards() throws Exception {
    assertThat(get(state.tryAcquire("short", 1, Duration.ofMillis(300)))).isTrue();
    assertThat(get(state.tryAcquire("next", 1, Duration.ofSeconds(30)))).isFalse();
    await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50))
        .until(() -> get(another().tryAcquire("next", 1, Duration.ofSeconds(30))));
    assertThat(get(state.renew("short", Duration.ofSeconds(30)))).isFalse();
    assertThat(get(state.held())).isEqualTo(1);
  }

  @Test
  void aRenewedPermitOutlivesItsFirstLease() throws Exception {
    assertThat(get(state.tryAcquire("long", 1, Duration.ofMillis(400)))).isTrue();
    for (int i = 0; i < 6; i++) {
      Thread.sleep(150); // a holder renewing at a third of its lease, as the relay does
      assertThat(get(state.renew("long", Duration.ofMillis(400)))).isTrue();
    }
    assertThat(get(state.tryAcquire("other", 1, Duration.ofSeconds(30)))).isFalse();
  }

  @Test
  void openRouteHintsAreSeenByOthersUntilTheyEnd() throws Exception {
    get(state.publishOpenRoute("m@primary", Duration.ofMillis(600)));
    Map<String, Duration> open = get(another().openRoutes());
    assertThat(open).containsKey("m@primary");
    assertThat(open.get("m@primary")).isBetween(Duration.ofMillis(1), Duration.ofMillis(600));
    // A shorter hint does not shorten a longer one.
    get(state.publishOpenRoute("m@primary", Duration.ofMillis(1)));
    assertThat(get(state.openRoutes())).containsKey("m@primary");
    await().atMost(Duration.ofSeconds(5)).until(() -> get(state.openRoutes()).isEmpty());
  }
}
