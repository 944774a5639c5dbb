package dev.llmrelay.core.shared;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.RecordingSink;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.TestConfigs;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.UpstreamConfig;
import dev.llmrelay.core.UpstreamExchange;
import dev.llmrelay.core.testing.LeakCheck;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.Headers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two relay instances (two clients in this JVM, each with its own engine connection) sharing one
 * engine: the global cap, leases, crashes, disconnects, engine failure and breaker hints.
 */
abstract class SharedLimitsContract {
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  final MockWebServer upstream = new MockWebServer();
  final MockWebServer secondary = new MockWebServer();
  final AtomicInteger inFlight = new AtomicInteger();
  final AtomicInteger peak = new AtomicInteger();
  final AtomicInteger calls = new AtomicInteger();
  volatile long answerMillis = 300;
  volatile int status = 200;
  volatile CountDownLatch gate;
  final ExecutorService callers = Executors.newFixedThreadPool(24);

  /** Settings naming a fresh engine (empty) for this test. */
  abstract SharedStateConfig.Builder engine();

  /** Stops the engine as a crash would. */
  abstract void stopEngine();

  /** Starts it again, empty or with its data; either is fine here. */
  abstract void startEngine();

  /** Another instance's view of the engine, for asserting on it. */
  SharedState probe() {
    SharedState s = SharedStates.create(engine().maxConcurrentRequests(1).build());
    probes.add(s);
    return s;
  }

  final List<SharedState> probes = new ArrayList<>();

  @BeforeEach
  void startUpstreams() throws Exception {
    upstream.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) throws InterruptedException {
        calls.incrementAndGet();
        int now = inFlight.incrementAndGet();
        peak.accumulateAndGet(now, Math::max);
        try {
          CountDownLatch g = gate;
          if (g != null) {
            g.await(30, TimeUnit.SECONDS);
          }
          Thread.sleep(answerMillis); // the upstream's latency, on MockWebServer's own thread
        } finally {
          inFlight.decrementAndGet();
        }
        return new MockResponse.Builder().code(status).headers(Headers.of("Content-Type", "application/json"))
            .body(status == 200 ? "{\"ok\":true}" : "{\"error\":{\"message\":\"down\"}}").build();
      }
    });
    upstream.start();
    secondary.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        return new MockResponse.Builder().code(200).headers(Headers.of("Content-Type", "application/json"))
            .body("{\"from\":\"secondary\"}").build();
      }
    });
    secondary.start();
  }

  @AfterEach
  void stopAll() throws Exception {
    CountDownLatch g = gate;
    if (g != null) {
      g.countDown();
    }
    callers.shutdownNow();
    probes.forEach(SharedState::close);
    upstream.close();
    secondary.close();
  }

  RelayConfig.Builder relay() {
    return TestConfigs.fast(upstream).maxConcurrentRequests(10).maxWait(Duration.ofSeconds(20))
        .attemptTimeout(Duration.ofSeconds(20)).retryTimeout(Duration.ofSeconds(20))
        .streamIdleTimeout(Duration.ofSeconds(20)).maxAttempts(1);
  }

  UpstreamClient instance(RelayConfig config, SharedStateConfig shared) {
    return leaks.track(UpstreamClient.builder(config).sharedState(shared).build());
  }

  UpstreamClient instance(SharedStateConfig shared) {
    return instance(relay().build(), shared);
  }

  static int held(SharedState s) throws Exception {
    return s.held().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  Future<ExchangeResult> send(UpstreamClient client, String id) {
    return callers.submit(() -> client.newExchange(TestConfigs.chat(id), new RecordingSink()).execute());
  }

  @Test
  void twentyRequestsOverTwoInstancesNeverExceedTheGlobalCap() throws Exception {
    SharedStateConfig shared = engine().maxConcurrentRequests(3).lease(Duration.ofSeconds(5)).build();
    UpstreamClient a = instance(shared);
    UpstreamClient b = instance(shared);
    List<Future<ExchangeResult>> all = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      all.add(send(i % 2 == 0 ? a : b, "r" + i));
    }
    for (Future<ExchangeResult> f : all) {
      assertThat(f.get(60, TimeUnit.SECONDS).status()).isEqualTo(200);
    }
    assertThat(calls.get()).isEqualTo(20);
    assertThat(peak.get()).isBetween(2, 3);
    await().atMost(Duration.ofSeconds(5)).until(() -> held(probe()) == 0);
    assertThat(a.sharedStats().orElseThrow().permitsHeld()).isZero();
    assertThat(b.sharedStats().orElseThrow().up()).isTrue();
    io.micrometer.core.instrument.simple.SimpleMeterRegistry registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    new dev.llmrelay.core.metrics.SharedStateMetrics(a).bindTo(registry);
    assertThat(registry.get("llmrelay.shared.state.up").gauge().value()).isEqualTo(1.0);
    assertThat(registry.get("llmrelay.shared.permits.held").gauge().value()).isZero();
    assertThat(registry.get("llmrelay.shared.permits.limit").gauge().value()).isEqualTo(3.0);
    assertThat(registry.get("llmrelay.shared.state.errors").functionCounter().count()).isZero();
  }

  @Test
  void aCrashedHoldersPermitsComeBackWithinALeasePlusOnePoll() throws Exception {
    Duration lease = Duration.ofSeconds(1);
    SharedState crashed = probe();
    // The crashed instance took both permits and will never renew or release them.
    assertThat(crashed.tryAcquire("dead:1", 2, lease).toCompletableFuture().get()).isTrue();
    assertThat(crashed.tryAcquire("dead:2", 2, lease).toCompletableFuture().get()).isTrue();
    long t0 = System.nanoTime();
    answerMillis = 0;
    UpstreamClient b = instance(engine().maxConcurrentRequests(2).lease(lease).build());

    assertThat(send(b, "after-crash").get(20, TimeUnit.SECONDS).status()).isEqualTo(200);
    Duration waited = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(waited).isLessThan(lease.plusMillis(250 + 1000)); // a lease, one poll, and slack for a busy machine
  }

  @Test
  void aLongRequestKeepsItsLeaseAndTheCapHoldsThroughout() throws Exception {
    Duration lease = Duration.ofSeconds(3);
    SharedStateConfig shared = engine().maxConcurrentRequests(1).lease(lease).build();
    UpstreamClient a = instance(shared);
    UpstreamClient b = instance(relay().maxWait(Duration.ofMillis(500)).build(), shared);
    answerMillis = 10_000;
    Future<ExchangeResult> longOne = send(a, "long");
    await().until(() -> inFlight.get() == 1);

    // Throughout the 10 s (more than three leases), the other instance cannot get in.
    answerMillis = 0;
    for (int i = 0; i < 4; i++) {
      ExchangeResult r = send(b, "blocked" + i).get(10, TimeUnit.SECONDS);
      assertThat(r.status()).isEqualTo(503);
      assertThat(r.errorCode()).isEqualTo("concurrency_limit");
      Thread.sleep(1_500); // spread the tries over the long request's lifetime
    }
    assertThat(longOne.get(20, TimeUnit.SECONDS).status()).isEqualTo(200);
    assertThat(peak.get()).isEqualTo(1);
    assertThat(a.sharedStats().orElseThrow().leasesLost()).isZero();
  }

  @Test
  void anInstanceWhoseClockRunsAMinuteAheadNeitherStealsNorExpiresLeases() throws Exception {
    SharedStateConfig shared = engine().maxConcurrentRequests(1).lease(Duration.ofSeconds(2)).build();
    java.time.Clock ahead = java.time.Clock.offset(java.time.Clock.systemUTC(), Duration.ofSeconds(60));
    UpstreamClient a = instance(relay().maxWait(Duration.ofMillis(800)).build(), shared);
    UpstreamClient skewed = leaks.track(UpstreamClient.builder(relay().maxWait(Duration.ofMillis(800)).build())
        .clock(ahead).sharedState(shared).build());
    gate = new CountDownLatch(1);
    Future<ExchangeResult> held = send(a, "holder");
    await().until(() -> inFlight.get() == 1);

    ExchangeResult r = send(skewed, "thief").get(10, TimeUnit.SECONDS);
    assertThat(r.status()).isEqualTo(503);
    assertThat(held(probe())).isEqualTo(1);
    gate.countDown();
    assertThat(held.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);

    // And the other way round: the skewed instance's lease is not expired by the others.
    gate = new CountDownLatch(1);
    Future<ExchangeResult> skewedHolds = send(skewed, "skewed-holder");
    await().until(() -> inFlight.get() == 1);
    Thread.sleep(2_500); // longer than a lease: renewals keep it
    assertThat(send(a, "other").get(10, TimeUnit.SECONDS).status()).isEqualTo(503);
    gate.countDown();
    assertThat(skewedHolds.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
  }

  @Test
  void aClientThatLeavesWhileWaitingOrHoldingLeavesNothingBehind() throws Exception {
    SharedStateConfig shared = engine().maxConcurrentRequests(1).lease(Duration.ofSeconds(5)).build();
    UpstreamClient a = instance(shared);
    UpstreamClient b = instance(shared);
    gate = new CountDownLatch(1);
    UpstreamExchange holding = a.newExchange(TestConfigs.chat("holding"), new RecordingSink()).start();
    await().until(() -> inFlight.get() == 1);
    UpstreamExchange waiting = b.newExchange(TestConfigs.chat("waiting"), new RecordingSink()).start();
    await().until(() -> b.stats().inFlight() == 1); // holds its local permit, waits for the global one

    waiting.cancel();
    waiting.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(b.stats().permitsAvailable()).isEqualTo(10);
    assertThat(held(probe())).isEqualTo(1);

    holding.cancel();
    holding.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(5)).until(() -> held(probe()) == 0);
    assertThat(a.sharedStats().orElseThrow().permitsHeld()).isZero();
    assertThat(b.sharedStats().orElseThrow().permitsHeld()).isZero();
    gate.countDown();
  }

  @Test
  void closingAnInstanceReleasesTheLeasesOfItsRunningAndWaitingRequests() throws Exception {
    SharedStateConfig shared = engine().maxConcurrentRequests(1).lease(Duration.ofSeconds(30)).build();
    UpstreamClient a = instance(shared);
    gate = new CountDownLatch(1);
    UpstreamExchange running = a.newExchange(TestConfigs.chat("running"), new RecordingSink()).start();
    await().until(() -> inFlight.get() == 1);
    UpstreamExchange waiting = a.newExchange(TestConfigs.chat("waiting"), new RecordingSink()).start();
    await().until(() -> a.stats().inFlight() == 2);
    assertThat(held(probe())).isEqualTo(1);

    a.close();

    assertThat(running.completion().toCompletableFuture().get(5, TimeUnit.SECONDS).errorCode()).isNotNull();
    assertThat(waiting.completion().toCompletableFuture().get(5, TimeUnit.SECONDS).status()).isEqualTo(503);
    // Released, not left to lapse after 30 s.
    await().atMost(Duration.ofSeconds(5)).until(() -> held(probe()) == 0);
    gate.countDown();
  }

  @Test
  void failedRequestsGiveTheirLeasesBack() throws Exception {
    SharedStateConfig shared = engine().maxConcurrentRequests(1).lease(Duration.ofSeconds(30)).build();
    UpstreamClient a = instance(shared);
    answerMillis = 0;
    status = 500;
    for (int i = 0; i < 3; i++) {
      assertThat(send(a, "fails" + i).get(10, TimeUnit.SECONDS).status()).isEqualTo(500);
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> held(probe()) == 0);
  }

  @Test
  void engineDownFailsOpenByDefaultAndTheCapReturnsAfterRestart() throws Exception {
    SharedStateConfig shared = engine().maxConcurrentRequests(1).lease(Duration.ofSeconds(2)).build();
    UpstreamClient a = instance(shared);
    UpstreamClient b = instance(shared);
    answerMillis = 200;
    assertThat(send(a, "before").get(10, TimeUnit.SECONDS).status()).isEqualTo(200);

    stopEngine();
    try {
      peak.set(0);
      List<Future<ExchangeResult>> during = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        during.add(send(i % 2 == 0 ? a : b, "during" + i));
      }
      for (Future<ExchangeResult> f : during) {
        assertThat(f.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
      }
      assertThat(peak.get()).as("local limits only while the engine is down").isGreaterThan(1);
      assertThat(a.sharedStats().orElseThrow().up()).isFalse();
      assertThat(a.sharedStats().orElseThrow().errors()).isPositive();
    } finally {
      startEngine();
    }
    // No restart of the relays: the cap applies again.
    await().atMost(Duration.ofSeconds(10)).until(() -> send(a, "probe").get(10, TimeUnit.SECONDS).status() == 200
        && a.sharedStats().orElseThrow().up());
    peak.set(0);
    List<Future<ExchangeResult>> after = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      after.add(send(i % 2 == 0 ? a : b, "after" + i));
    }
    for (Future<ExchangeResult> f : after) {
      assertThat(f.get(20, TimeUnit.SECONDS).status()).isEqualTo(200);
    }
    assertThat(peak.get()).isEqualTo(1);
  }

  @Test
  void engineDownInClosedModeRefusesWith503AndRecovers() throws Exception {
    SharedStateConfig shared = engine().maxConcurrentRequests(2).failureMode(FailureMode.CLOSED).build();
    UpstreamClient a = instance(shared);
    answerMillis = 0;
    assertThat(send(a, "before").get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
    stopEngine();
    try {
      RecordingSink sink = new RecordingSink();
      ExchangeResult r = a.newExchange(TestConfigs.chat("during"), sink).execute();
      assertThat(r.status()).isEqualTo(503);
      assertThat(r.errorCode()).isEqualTo("shared_state_unavailable");
      assertThat(sink.failure.retryAfter()).isPresent();
      assertThat(calls.get()).isEqualTo(1);
    } finally {
      startEngine();
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> send(a, "after").get(10, TimeUnit.SECONDS).status() == 200);
  }

  @Test
  void aBreakerOpenedOnOneInstanceKeepsTheOtherOffThatRouteUntilTheHintEnds() throws Exception {
    RelayConfig config = relay().primaryWeight(100)
        .addUpstream(new UpstreamConfig("upstream2", java.net.URI.create(secondary.url("/v1").toString()), null, 1, Set.of()))
        .maxAttempts(2).breakerFailures(2).breakerOpen(Duration.ofSeconds(3)).build();
    SharedStateConfig shared = engine().maxConcurrentRequests(10).build();
    UpstreamClient a = instance(config, shared);
    UpstreamClient b = instance(config, shared);
    answerMillis = 0;
    status = 500;
    // A's primary fails twice: its breaker opens and publishes a hint.
    for (int i = 0; i < 2; i++) {
      a.newExchange(TestConfigs.chat("a" + i), new RecordingSink()).execute();
    }
    int primaryCalls = calls.get();
    long opened = System.nanoTime();
    Thread.sleep(1_000); // the hint reaches B within a second

    for (int i = 0; i < 5; i++) {
      ExchangeResult r = b.newExchange(TestConfigs.chat("b" + i), new RecordingSink()).execute();
      assertThat(r.status()).isEqualTo(200);
    }
    assertThat(calls.get()).as("B kept off the primary").isEqualTo(primaryCalls);
    assertThat(System.nanoTime() - opened).isLessThan(TimeUnit.SECONDS.toNanos(3));

    // Once the hint ends (3 s plus at most 20 % jitter), B uses the primary again.
    status = 200;
    await().atMost(Duration.ofSeconds(8)).pollInterval(Duration.ofMillis(200)).until(() -> {
      b.newExchange(TestConfigs.chat("later"), new RecordingSink()).execute();
      return calls.get() > primaryCalls;
    });
  }
}
