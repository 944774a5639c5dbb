package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.testing.LeakCheck;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The retry budget keeps a failing upstream from a retry storm, and only that. */
class RetryBudgetTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();
  @RegisterExtension final LogCapture log = new LogCapture();

  /** Answers each request id's first attempt with {@code first}, later ones with {@code then}. */
  private static final class FirstThen extends Dispatcher {
    private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
    private final MockResponse first;
    private final MockResponse then;

    FirstThen(MockResponse first, MockResponse then) {
      this.first = first;
      this.then = then;
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
      int n = attempts.computeIfAbsent(request.getHeaders().get("X-Request-Id"), k -> new AtomicInteger()).incrementAndGet();
      return n == 1 ? first : then;
    }
  }

  /** Short backoffs, but attempt timeouts no loaded machine reaches: only the budget decides. */
  private RelayConfig.Builder patient() {
    return fast(server).attemptTimeout(java.time.Duration.ofSeconds(5)).retryTimeout(java.time.Duration.ofSeconds(5));
  }

  private static MockResponse json(int code, String body) {
    return new MockResponse.Builder().code(code).setHeader("Content-Type", "application/json").body(body).build();
  }

  @Test
  void eightConcurrentRateLimitedRequestsAreAllRetriedOnAnIdleProxy() throws Exception {
    // Given an upstream that answers each request once with 429 Retry-After: 1, then 200
    server.setDispatcher(new FirstThen(
        new MockResponse.Builder().code(429).setHeader("Retry-After", "1").setHeader("Content-Type", "application/json")
            .body("{\"error\":{\"message\":\"slow down\"}}").build(),
        json(200, "{\"ok\":true}")));
    UpstreamClient client = leaks.client(patient().build());

    // When eight requests arrive together
    List<RecordingSink> sinks = new ArrayList<>();
    List<CompletableFuture<ExchangeResult>> results = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      RecordingSink sink = new RecordingSink();
      sinks.add(sink);
      results.add(client.start(chat("rl-" + i), sink).completion().toCompletableFuture());
    }

    // Then every one is retried once and succeeds
    for (int i = 0; i < 8; i++) {
      ExchangeResult r = results.get(i).get(10, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("request %d", i).isEqualTo(Outcome.SUCCESS);
      assertThat(r.attempts()).isEqualTo(2);
      assertThat(sinks.get(i).header("X-Relay-Attempts")).isEqualTo("2");
      assertThat(sinks.get(i).header("x-should-retry")).isNull();
    }
    assertThat(client.stats().retriesDenied()).isZero();
    assertThat(server.getRequestCount()).isEqualTo(16);
  }

  @Test
  void aRetryTheBudgetRefusesSaysSoAndLeavesTheClientFreeToRetry() throws Exception {
    // Given a budget of one retry in flight, and retries that the upstream holds for a while
    server.setDispatcher(new FirstThen(
        json(500, "{\"error\":{\"message\":\"boom\"}}"),
        new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{\"ok\":true}")
            .headersDelay(300, TimeUnit.MILLISECONDS).build()));
    UpstreamClient client = leaks.client(patient().retryBudgetPercent(0).retryBudgetMinRetries(1).build());

    // When two requests fail together and both want to retry while one retry is in flight
    RecordingSink a = new RecordingSink();
    RecordingSink b = new RecordingSink();
    CompletableFuture<ExchangeResult> ra = client.start(chat("budget-a"), a).completion().toCompletableFuture();
    CompletableFuture<ExchangeResult> rb = client.start(chat("budget-b"), b).completion().toCompletableFuture();
    List<ExchangeResult> both = List.of(ra.get(10, TimeUnit.SECONDS), rb.get(10, TimeUnit.SECONDS));

    // Then one is retried, the other gets its failure back at once, marked as the budget's doing
    assertThat(both).extracting(ExchangeResult::status).containsExactlyInAnyOrder(200, 500);
    ExchangeResult refused = both.stream().filter(r -> r.status() == 500).findFirst().orElseThrow();
    RecordingSink refusedSink = refused.requestId().equals("budget-a") ? a : b;
    assertThat(refused.stopReason()).isEqualTo("retry_budget");
    assertThat(refused.attempts()).isEqualTo(1);
    assertThat(refusedSink.header("x-should-retry")).as("never tell the client not to retry").isNull();
    assertThat(client.stats().retriesDenied()).isEqualTo(1);
    org.awaitility.Awaitility.await().untilAsserted(() -> assertThat(log.text())
        .contains("retry budget spent")
        .containsPattern("request " + refused.requestId() + " .* stopped=retry_budget"));
  }
}
