package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Routes over several upstreams and models: fallbacks, breakers, first-event and adaptive timeouts, retry budget. */
class FailoverTest {
  @StartStop public final MockWebServer primary = new MockWebServer();
  @StartStop public final MockWebServer secondary = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();

  private static final ObjectMapper JSON = new ObjectMapper();
  private final MutableClock clock = new MutableClock();

  /** A client on the test's clock, checked for leaks after the test. */
  private UpstreamClient client(RelayConfig config) {
    return leaks.track(UpstreamClient.builder(config).clock(clock).build());
  }

  private UpstreamConfig second(int weight, String... models) {
    return new UpstreamConfig("upstream2", java.net.URI.create(secondary.url("/v1").toString()), null, weight, Set.of(models));
  }

  /** Answers by the request's model; records every model seen (and whether a models array was sent). */
  private static class ByModel extends Dispatcher {
    final List<String> seen = new CopyOnWriteArrayList<>();
    final List<Boolean> sawModelsArray = new CopyOnWriteArrayList<>();
    private final Function<String, MockResponse> answer;

    ByModel(Function<String, MockResponse> answer) {
      this.answer = answer;
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
      String model = null;
      try {
        JsonNode body = JSON.readTree(request.getBody().utf8());
        model = body.path("model").asText(null);
        sawModelsArray.add(body.has("models"));
      } catch (Exception e) {
        // GET without body
      }
      seen.add(String.valueOf(model));
      return answer.apply(model);
    }

    long count(String model) {
      return seen.stream().filter(model::equals).count();
    }
  }

  private static MockResponse ok(String model) {
    return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"" + model + "\",\"choices\":[]}").build();
  }

  private static MockResponse status(int code, String body) {
    return new MockResponse.Builder().code(code).setHeader("Content-Type", "application/json").body(body).build();
  }

  private static ClientRequest request(String model, List<String> models, boolean stream) {
    StringBuilder body = new StringBuilder("{\"model\":\"" + model + "\"");
    if (!models.isEmpty()) {
      body.append(",\"models\":[");
      for (int i = 0; i < models.size(); i++) {
        body.append(i == 0 ? "" : ",").append('"').append(models.get(i)).append('"');
      }
      body.append(']');
    }
    body.append(stream ? ",\"stream\":true" : "").append(",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    return new ClientRequest(Endpoint.CHAT_COMPLETIONS, Map.of(), body.toString().getBytes(StandardCharsets.UTF_8),
        "r-" + System.nanoTime(), model, stream, models);
  }

  private static ExchangeResult run(UpstreamClient client, ClientRequest request, RecordingSink sink) throws Exception {
    return client.start(request, sink).completion().toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  @Test
  void weightedRoundRobinSpreadsThreeToOne() throws Exception {
    primary.setDispatcher(new ByModel(FailoverTest::ok));
    secondary.setDispatcher(new ByModel(FailoverTest::ok));
    UpstreamClient client = client(fast(primary).primaryWeight(3).addUpstream(second(1)).maxConcurrentRequests(8).maxWait(Duration.ofSeconds(20)).build());

    List<CompletableFuture<ExchangeResult>> all = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      all.add(client.start(request("m", List.of(), false), new RecordingSink()).completion().toCompletableFuture());
    }
    for (CompletableFuture<ExchangeResult> f : all) {
      assertThat(f.get(30, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.SUCCESS);
    }

    assertThat(primary.getRequestCount()).as("weight 3 of 4").isBetween(280, 320);
    assertThat(secondary.getRequestCount()).as("weight 1 of 4").isBetween(80, 120);
    assertThat(primary.getRequestCount() + secondary.getRequestCount()).isEqualTo(400);
  }

  @Test
  void aPrimaryThatOnlyAnswers503FailsOverToTheSecondUpstream() throws Exception {
    primary.setDispatcher(new ByModel(m -> status(503, "{\"error\":{\"message\":\"overloaded\"}}")));
    secondary.setDispatcher(new ByModel(FailoverTest::ok));
    UpstreamClient client = client(fast(primary).primaryWeight(100).addUpstream(second(1)).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, request("m", List.of(), false), sink);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.header("X-Relay-Upstream")).isEqualTo("upstream2");
    assertThat(primary.getRequestCount()).as("MAX_ATTEMPTS on the primary").isEqualTo(3);
    assertThat(secondary.getRequestCount()).isEqualTo(1);
    assertThat(result.attemptTrail()).extracting(AttemptRecord::upstream).containsExactly("primary", "primary", "primary", "upstream2");
  }

  @Test
  void aModelsArrayFallsBackToTheNextModelWhichTheResponseNames() throws Exception {
    ByModel upstream = new ByModel(m -> "a".equals(m) ? status(503, "{\"error\":{}}") : ok(m));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).build());

    RecordingSink sink = new RecordingSink();
    run(client, request("a", List.of("a", "b"), false), sink);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.header("X-Relay-Model")).isEqualTo("b");
    assertThat(JSON.readTree(sink.body()).path("model").asText()).as("the response names the model that answered").isEqualTo("b");
    assertThat(upstream.count("a")).as("a at most MAX_ATTEMPTS times").isBetween(1L, 3L);
    assertThat(upstream.count("b")).isEqualTo(1);
    assertThat(upstream.sawModelsArray).as("each attempt carries exactly one model").containsOnly(false);
  }

  @Test
  void modelFallbacksFromConfigurationWorkLikeAModelsArray() throws Exception {
    ByModel upstream = new ByModel(m -> "big".equals(m) ? status(502, "{\"error\":{}}") : ok(m));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).maxAttempts(1).modelFallbacks(Map.of("big", List.of("small"))).build());

    RecordingSink sink = new RecordingSink();
    run(client, request("big", List.of(), false), sink);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.header("X-Relay-Model")).isEqualTo("small");
    assertThat(upstream.seen).containsExactly("big", "small");
  }

  @Test
  void contextLengthExceededMovesToTheNextModelAfterOneAttempt() throws Exception {
    ByModel upstream = new ByModel(m -> "a".equals(m)
        ? status(400, "{\"error\":{\"message\":\"too long\",\"code\":\"context_length_exceeded\"}}")
        : ok(m));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).build());

    RecordingSink sink = new RecordingSink();
    run(client, request("a", List.of("a", "b"), false), sink);

    assertThat(sink.status).isEqualTo(200);
    assertThat(upstream.seen).containsExactly("a", "b");
  }

  @Test
  void aContentPolicy400IsReturnedWithoutFallback() throws Exception {
    ByModel upstream = new ByModel(m -> status(400, "{\"error\":{\"message\":\"flagged\",\"code\":\"content_policy_violation\"}}"));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).build());

    RecordingSink sink = new RecordingSink();
    run(client, request("a", List.of("a", "b"), false), sink);

    assertThat(sink.status).isEqualTo(400);
    assertThat(sink.body()).contains("content_policy_violation");
    assertThat(upstream.seen).containsExactly("a");
  }

  @Test
  void aSilentModelFailsOverAfterOneAttemptTimeoutNotThree() throws Exception {
    ByModel upstream = new ByModel(m -> "a".equals(m)
        ? new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build()
        : ok(m));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).build()); // 400 ms attempt timeout

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, request("a", List.of("a", "b"), false), sink);
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(sink.status).isEqualTo(200);
    assertThat(upstream.seen).containsExactly("a", "b");
    assertThat(elapsedMs).as("one timeout, then b at once").isBetween(350L, 1100L);
    assertThat(result.attemptSummary()).matches("1:timeout@\\d+ms\\(a@primary\\),2:200@\\d+ms\\(b@primary\\)");
  }

  @Test
  void aBreakerOpensSkipsItsRouteHalfOpensAfterTheOpenTimeAndClosesOnSuccess() throws Exception {
    AtomicInteger aFails = new AtomicInteger(1);
    ByModel upstream = new ByModel(m -> "a".equals(m) && aFails.get() == 1 ? status(500, "{\"error\":{}}") : ok(m));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).maxAttempts(1).breakerFailures(2).breakerOpen(Duration.ofSeconds(30))
        .modelFallbacks(Map.of("a", List.of("b"))).build());

    // Two requests: a fails twice (then b answers), which opens a's breaker.
    run(client, request("a", List.of(), false), new RecordingSink());
    run(client, request("a", List.of(), false), new RecordingSink());
    assertThat(stateOf(client, "a")).isEqualTo("open");

    // While open, a is skipped without an attempt.
    RecordingSink skipped = new RecordingSink();
    run(client, request("a", List.of(), false), skipped);
    assertThat(skipped.status).isEqualTo(200);
    assertThat(upstream.seen).containsExactly("a", "b", "a", "b", "b");

    // After the open time (with its jitter), one probe goes through; a now answers and closes.
    aFails.set(0);
    clock.advance(Duration.ofSeconds(37));
    assertThat(stateOf(client, "a")).isEqualTo("half_open");
    RecordingSink probe = new RecordingSink();
    run(client, request("a", List.of(), false), probe);
    assertThat(probe.header("X-Relay-Model")).isEqualTo("a");
    assertThat(stateOf(client, "a")).isEqualTo("closed");
  }

  private static String stateOf(UpstreamClient client, String model) {
    return client.routes().stream().filter(r -> model.equals(r.model())).findFirst().orElseThrow().breaker();
  }

  @Test
  void whenEveryRouteIsOpenTheProxyAnswers503CircuitOpenWithoutTouchingTheUpstream() throws Exception {
    ByModel upstream = new ByModel(m -> status(500, "{\"error\":{}}"));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).maxAttempts(1).breakerFailures(1).breakerOpen(Duration.ofSeconds(30)).build());
    run(client, request("a", List.of(), false), new RecordingSink());
    int before = primary.getRequestCount();

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, request("a", List.of(), false), sink);

    assertThat(sink.failure).isInstanceOf(UpstreamCircuitOpenException.class);
    assertThat(sink.failure.status()).isEqualTo(503);
    assertThat(sink.failure.code()).isEqualTo("upstream_circuit_open");
    assertThat(sink.failure.retryAfter()).hasValueSatisfying(d -> assertThat(d).isBetween(Duration.ofSeconds(30), Duration.ofSeconds(37)));
    assertThat(primary.getRequestCount()).as("no upstream request").isEqualTo(before);
    assertThat(result.outcome()).isEqualTo(Outcome.REJECTED);
  }

  @Test
  void aBreakerThatOpensDuringARequestsRetriesCountsItsAttempts() throws Exception {
    ByModel upstream = new ByModel(m -> status(502, "{\"error\":{}}"));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).maxAttempts(3).breakerFailures(2).breakerOpen(Duration.ofSeconds(30)).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, request("a", List.of(), false), sink);

    assertThat(primary.getRequestCount()).as("two attempts, then the breaker is open").isEqualTo(2);
    assertThat(sink.failure).isInstanceOf(UpstreamCircuitOpenException.class);
    assertThat(sink.failure.attempts()).as("X-Relay-Attempts of the error").isEqualTo(2);
    assertThat(result.attempts()).isEqualTo(2);
  }

  @Test
  void rateLimitsAndBadRequestsNeverOpenABreaker() throws Exception {
    AtomicInteger n = new AtomicInteger();
    ByModel upstream = new ByModel(m -> n.getAndIncrement() % 2 == 0 ? status(429, "{\"error\":{}}") : status(400, "{\"error\":{}}"));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).maxAttempts(1).breakerFailures(1).build());

    for (int i = 0; i < 6; i++) {
      run(client, request("a", List.of(), false), new RecordingSink());
    }

    assertThat(primary.getRequestCount()).as("every request reached the upstream").isEqualTo(6);
    assertThat(stateOf(client, "a")).isEqualTo("closed");
  }

  @Test
  void aLateFirstEventFailsOverBeforeTheCommitPointButNeverAfterIt() throws Exception {
    ByModel upstream = new ByModel(m -> "a".equals(m)
        ? new Sse().send(": OPENROUTER PROCESSING\n\n").keepAlive(100, 3000).response()
        : new Sse().send(Sse.chunk(0, "from-b")).pause(600).send(Sse.chunk(1, "late-but-fine")).send(Sse.finish()).send(Sse.DONE).response());
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).firstEventTimeout(Duration.ofMillis(300))
        .streamIdleTimeout(Duration.ofSeconds(2)).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, request("a", List.of("a", "b"), true), sink);

    assertThat(upstream.seen).containsExactly("a", "b");
    assertThat(result.attemptTrail().get(0).result()).isEqualTo("first_event_timeout");
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(sink.body()).as("the 600 ms gap after the first event is no failover").contains("late-but-fine").endsWith(Sse.DONE);
  }

  @Test
  void aStreamThatBreaksAfterTheCommitPointIsNotFailedOver() throws Exception {
    ByModel upstream = new ByModel(m -> "a".equals(m) ? new Sse().send(Sse.chunk(0, "partial")).cut().response() : ok(m));
    primary.setDispatcher(upstream);
    UpstreamClient client = client(fast(primary).streamContinuation(false).build()); // continuation: ContinuationTest

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, request("a", List.of("a", "b"), true), sink);

    assertThat(upstream.seen).containsExactly("a");
    assertThat(result.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
    assertThat(sink.body()).contains("upstream_stream_interrupted").doesNotContain("[DONE]");
  }

  @Test
  void theAdaptiveTimeoutConvergesOnAFastRouteAndStaysWithinItsBounds() throws Exception {
    primary.setDispatcher(new ByModel(FailoverTest::ok));
    UpstreamClient client = client(fast(primary).attemptTimeout(Duration.ofSeconds(10)).retryTimeout(Duration.ofSeconds(10)).build());

    for (int i = 0; i < 60; i++) {
      run(client, request("fast", List.of(), false), new RecordingSink());
    }

    RouteStatus route = client.routes().stream().filter(r -> "fast".equals(r.model()) || r.model() == null).findFirst().orElseThrow();
    assertThat(route.successfulAttempts()).isGreaterThanOrEqualTo(50);
    assertThat(route.attemptTimeout()).as("3 x p99 of a fast route is below the 2 s floor").isEqualTo(Duration.ofSeconds(2));

    UpstreamClient low = client(fast(primary).attemptTimeout(Duration.ofMillis(900)).build());
    for (int i = 0; i < 60; i++) {
      run(low, request("fast", List.of(), false), new RecordingSink());
    }
    assertThat(low.routes().get(0).attemptTimeout()).as("never above the configured limit").isEqualTo(Duration.ofMillis(900));
  }

  @Test
  void theRetryBudgetCapsConcurrentRetriesUnderABurstOfFailures() throws Exception {
    // 429s: retried like 5xx, but they never open a breaker, which would end the storm first.
    primary.setDispatcher(new ByModel(m -> new MockResponse.Builder().code(429).setHeader("Content-Type", "application/json")
        .body("{\"error\":{}}").headersDelay(150, TimeUnit.MILLISECONDS).build()));
    RealUpstreamClient client = (RealUpstreamClient) client(fast(primary).maxConcurrentRequests(30).maxWait(Duration.ofSeconds(5))
        .retryBudgetMinRetries(3).build());

    List<CompletableFuture<ExchangeResult>> burst = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      burst.add(client.start(request("a", List.of(), false), new RecordingSink()).completion().toCompletableFuture());
    }
    for (CompletableFuture<ExchangeResult> f : burst) {
      f.get(20, TimeUnit.SECONDS);
    }

    assertThat(client.maxConcurrentRetries()).as("max(3, 20 % of 30 in flight) retries at the upstream").isLessThanOrEqualTo(6);
    assertThat(client.stats().retriesDenied()).as("failures returned instead of retried").isPositive();
    assertThat(primary.getRequestCount()).as("far fewer than 30 x 3 attempts").isLessThan(60);
  }

  @Test
  void aGetForModelsGoesToAnUpstreamUnchanged() throws Exception {
    primary.setDispatcher(new ByModel(m -> status(200, "{\"data\":[]}")));
    secondary.setDispatcher(new ByModel(m -> status(200, "{\"data\":[]}")));
    UpstreamClient client = client(fast(primary).addUpstream(second(1)).build());

    RecordingSink sink = new RecordingSink();
    run(client, ClientRequest.of(Endpoint.MODELS, new byte[0], "models-1"), sink);

    assertThat(sink.status).isEqualTo(200);
    assertThat(primary.getRequestCount() + secondary.getRequestCount()).isEqualTo(1);
  }

  @Test
  void anotherUpstreamNeverReceivesTheClientsAuthorization() throws Exception {
    Map<String, String> auth = new ConcurrentHashMap<>();
    primary.setDispatcher(new ByModel(m -> status(503, "{\"error\":{}}")) {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        auth.put("primary", String.valueOf(request.getHeaders().get("Authorization")));
        return super.dispatch(request);
      }
    });
    secondary.setDispatcher(new ByModel(FailoverTest::ok) {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        auth.put("upstream2", String.valueOf(request.getHeaders().get("Authorization")));
        return super.dispatch(request);
      }
    });
    UpstreamClient client = client(fast(primary).primaryWeight(100).addUpstream(second(1)).maxAttempts(1).build());
    ClientRequest withKey = new ClientRequest(Endpoint.CHAT_COMPLETIONS, Map.of("Authorization", List.of("Bearer client-key")),
        "{\"model\":\"m\"}".getBytes(StandardCharsets.UTF_8), "auth-1", "m", false);

    run(client, withKey, new RecordingSink());

    assertThat(auth.get("primary")).isEqualTo("Bearer client-key");
    assertThat(auth.get("upstream2")).isEqualTo("null");
  }
}
