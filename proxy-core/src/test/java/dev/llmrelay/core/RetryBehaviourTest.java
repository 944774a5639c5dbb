package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Which upstream failures are retried, how often, how late, and what the client finally gets. */
class RetryBehaviourTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();
  @RegisterExtension final LogCapture log = new LogCapture();

  private static final String OK_JSON = "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[]}";

  private static MockResponse json(int code, String body) {
    return new MockResponse.Builder().code(code).setHeader("Content-Type", "application/json").body(body).build();
  }

  @Test
  void serverErrorThenSuccessAnswersSuccessAfterTwoUpstreamRequests() throws Exception {
    server.enqueue(json(500, "{\"error\":{\"message\":\"boom\"}}"));
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(chat("r1"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).as("client status").isEqualTo(200);
    assertThat(sink.body()).as("client body").isEqualTo(OK_JSON);
    assertThat(sink.header("X-Relay-Attempts")).as("attempts header").isEqualTo("2");
    assertThat(sink.header("x-should-retry")).as("no x-should-retry on success").isNull();
    assertThat(server.getRequestCount()).as("upstream requests").isEqualTo(2);
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(client.stats().retries()).as("retries counted").isEqualTo(1);
  }

  @Test
  void badGatewayThreeTimesReturnsTheUpstreamBodyWithShouldRetryFalse() throws Exception {
    for (int i = 0; i < 3; i++) {
      server.enqueue(json(502, "{\"error\":{\"message\":\"bad gateway " + i + "\"}}"));
    }
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(chat("r2"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).as("the upstream's last status").isEqualTo(502);
    assertThat(sink.body()).as("the upstream's last body, unchanged").isEqualTo("{\"error\":{\"message\":\"bad gateway 2\"}}");
    assertThat(sink.header("x-should-retry")).as("SDKs must not multiply attempts").isEqualTo("false");
    assertThat(sink.header("X-Relay-Attempts")).isEqualTo("3");
    assertThat(server.getRequestCount()).as("upstream requests").isEqualTo(3);
    assertThat(result.outcome()).isEqualTo(Outcome.UPSTREAM_5XX);
  }

  @Test
  void rateLimitWithRetryAfterOneSecondRetriesNoSoonerThanOneSecond() throws Exception {
    java.util.List<Long> arrivals = new java.util.concurrent.CopyOnWriteArrayList<>();
    server.setDispatcher(new mockwebserver3.Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        arrivals.add(System.nanoTime());
        if (arrivals.size() == 1) {
          return new MockResponse.Builder().code(429).setHeader("Retry-After", "1")
              .setHeader("Content-Type", "application/json").body("{\"error\":{\"message\":\"slow down\"}}").build();
        }
        return json(200, OK_JSON);
      }
    });
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r3"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(200);
    assertThat(arrivals).as("upstream requests").hasSize(2);
    long gapMs = (arrivals.get(1) - arrivals.get(0)) / 1_000_000;
    assertThat(gapMs).as("time between the 429 and the retry").isGreaterThanOrEqualTo(1000).isLessThan(2500);
  }

  @Test
  void retryAfterMillisecondsHeaderSetsTheDelay() throws Exception {
    java.util.List<Long> arrivals = new java.util.concurrent.CopyOnWriteArrayList<>();
    server.setDispatcher(new mockwebserver3.Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        arrivals.add(System.nanoTime());
        if (arrivals.size() == 1) {
          return new MockResponse.Builder().code(503).setHeader("retry-after-ms", "300")
              .setHeader("Content-Type", "application/json").body("{\"error\":{}}").build();
        }
        return json(200, OK_JSON);
      }
    });
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r3c"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(200);
    long gapMs = (arrivals.get(1) - arrivals.get(0)) / 1_000_000;
    assertThat(gapMs).as("never earlier than retry-after-ms, far above the 10 ms backoff").isGreaterThanOrEqualTo(300).isLessThan(1500);
  }

  @Test
  void rateLimitRetryAfterIsHonouredAsAFloor() throws Exception {
    server.enqueue(new MockResponse.Builder().code(429).setHeader("Retry-After", "1")
        .setHeader("Content-Type", "application/json").body("{\"error\":{}}").build());
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).build());

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    client.start(chat("r3b"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(sink.status).isEqualTo(200);
    assertThat(elapsedMs).as("total time, which includes the wait before the retry").isGreaterThanOrEqualTo(1000).isLessThan(3000);
  }

  @Test
  void rateLimitWithRetryAfterAboveTheCapIsReturnedAtOnce() throws Exception {
    server.enqueue(new MockResponse.Builder().code(429).setHeader("Retry-After", "120")
        .setHeader("x-ratelimit-remaining-requests", "0")
        .setHeader("Content-Type", "application/json").body("{\"error\":{\"message\":\"quota\"}}").build());
    UpstreamClient client = leaks.client(fast(server).retryAfterMax(Duration.ofSeconds(30)).build());

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(chat("r4"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(429);
    assertThat(sink.header("Retry-After")).as("Retry-After passed on intact").isEqualTo("120");
    assertThat(sink.header("x-ratelimit-remaining-requests")).isEqualTo("0");
    assertThat(sink.body()).isEqualTo("{\"error\":{\"message\":\"quota\"}}");
    assertThat(server.getRequestCount()).as("no retry").isEqualTo(1);
    assertThat((System.nanoTime() - start) / 1_000_000).as("answered at once").isLessThan(1000);
    assertThat(result.outcome()).isEqualTo(Outcome.UPSTREAM_4XX);
  }

  @Test
  void badRequestIsSentExactlyOnceAndPassedOnUnchanged() throws Exception {
    server.enqueue(json(400, "{\"error\":{\"message\":\"bad\",\"code\":\"invalid\"}}"));
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r5"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(400);
    assertThat(sink.body()).isEqualTo("{\"error\":{\"message\":\"bad\",\"code\":\"invalid\"}}");
    assertThat(server.getRequestCount()).as("exactly one upstream request").isEqualTo(1);
  }

  @Test
  void otherClientErrorsAreNeverRetried() throws Exception {
    int[] codes = {401, 402, 403, 404, 409, 413, 422};
    UpstreamClient client = leaks.client(fast(server).build());
    for (int code : codes) {
      server.enqueue(json(code, "{\"error\":{\"message\":\"no\"}}"));
    }
    for (int code : codes) {
      RecordingSink sink = new RecordingSink();
      client.start(chat("c" + code), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertThat(sink.status).as("status passed on").isEqualTo(code);
    }
    assertThat(server.getRequestCount()).as("one request per client request").isEqualTo(codes.length);
  }

  @Test
  void connectionRefusedEndsAsUpstreamUnreachableAfterAllAttempts() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    UpstreamClient client = leaks.client(fast("http://127.0.0.1:" + port + "/v1").build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(chat("r6"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.failure).as("proxy error").isInstanceOf(UpstreamUnreachableException.class);
    assertThat(sink.failure.status()).isEqualTo(502);
    assertThat(sink.failure.code()).isEqualTo("upstream_unreachable");
    assertThat(sink.failure.attempts()).as("all attempts made").isEqualTo(3);
    assertThat(sink.failure.shouldRetry()).as("x-should-retry: false").isFalse();
    assertThat(result.outcome()).isEqualTo(Outcome.UNREACHABLE);
    assertThat(client.stats().attemptConnectErrors()).isEqualTo(3);
  }

  @Test
  void noResponseEndsAsUpstreamTimeoutWithinTheBudgetAndClosesEveryConnection() throws Exception {
    for (int i = 0; i < 3; i++) {
      server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    }
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).build());

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(chat("r7"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(sink.failure).isInstanceOf(UpstreamTimeoutException.class);
    assertThat(sink.failure.status()).isEqualTo(504);
    assertThat(sink.failure.code()).isEqualTo("upstream_timeout");
    assertThat(server.getRequestCount()).isEqualTo(3);
    // Budget: 3 x 400 ms attempts + backoffs of at most 2 x 48 ms, plus scheduling slack.
    assertThat(elapsedMs).as("total time").isGreaterThanOrEqualTo(1200).isLessThan(2500);
    assertThat(client.okHttp().connectionPool().connectionCount())
        .as("timed-out connections are closed, not pooled")
        .isZero();
    assertThat(result.outcome()).isEqualTo(Outcome.TIMEOUT);
    assertThat(client.stats().attemptTimeouts()).isEqualTo(3);
  }

  @Test
  void eachTimedOutAttemptIsCancelledBeforeTheNextStarts() throws Exception {
    server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r7b"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    RecordedRequest first = server.takeRequest();
    RecordedRequest second = server.takeRequest();
    assertThat(sink.status).isEqualTo(200);
    assertThat(second.getConnectionIndex())
        .as("the retry runs on a new connection: the stalled one was closed")
        .isNotEqualTo(first.getConnectionIndex());
  }

  @Test
  void headersThenAStalledNonStreamingBodyIsRetried() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body(new Sse().send("{\"partial\":").pause(3000)).build());
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r8"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.body()).as("never the truncated body").isEqualTo(OK_JSON);
    assertThat(server.getRequestCount()).isEqualTo(2);
  }

  @Test
  void aBodyCutShortIsRetriedNotPassedOn() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"" + "a".repeat(20000) + "\"}}]}")
        .onResponseBody(new SocketEffect.CloseSocket(true, false, false)).build());
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r8b"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.body()).isEqualTo(OK_JSON);
    assertThat(server.getRequestCount()).isEqualTo(2);
  }

  @Test
  void aPostTheUpstreamAlreadyReadIsNotReplayedByOkHttp() throws Exception {
    // Warm a pooled connection, then have the server read the next POST and drop the socket.
    server.enqueue(json(200, OK_JSON));
    server.enqueue(new MockResponse.Builder().onResponseStart(new SocketEffect.CloseSocket(true, false, false)).build());
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).maxAttempts(1).build());

    RecordingSink warm = new RecordingSink();
    client.start(chat("warm"), warm).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(warm.status).isEqualTo(200);

    RecordingSink sink = new RecordingSink();
    client.start(chat("once"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.failure).as("the failure surfaces instead of a silent replay").isInstanceOf(UpstreamUnreachableException.class);
    assertThat(server.getRequestCount()).as("the upstream saw the POST once, not twice").isEqualTo(2);
  }

  @Test
  void htmlErrorPageBecomesAJsonUpstreamError() throws Exception {
    for (int i = 0; i < 3; i++) {
      server.enqueue(new MockResponse.Builder().code(502).setHeader("Content-Type", "text/html")
          .body("<html><body>Bad Gateway</body></html>").build());
    }
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r9"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.failure).isInstanceOf(UpstreamErrorException.class);
    assertThat(sink.failure.status()).as("upstream's status kept").isEqualTo(502);
    assertThat(sink.failure.code()).isEqualTo("upstream_error");
    assertThat(sink.failure.getMessage()).contains("502");
    assertThat(sink.failure.shouldRetry()).isFalse();
    assertThat(new String(sink.failure.toJson(), java.nio.charset.StandardCharsets.UTF_8))
        .isEqualTo("{\"error\":{\"message\":\"The upstream answered HTTP 502 with a body that is not JSON.\",\"type\":\"proxy_error\",\"param\":null,\"code\":\"upstream_error\"}}");
  }

  @Test
  void successWithInvalidJsonIsABadResponseNotAPassThrough() throws Exception {
    server.enqueue(json(200, "{\"id\":\"x\",\"choices\":[ oops"));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(chat("r10"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.failure).isInstanceOf(UpstreamBadResponseException.class);
    assertThat(sink.failure.status()).isEqualTo(502);
    assertThat(sink.status).as("nothing was sent").isZero();
    assertThat(result.outcome()).isEqualTo(Outcome.BAD_RESPONSE);
  }

  @Test
  void inBandErrorInASuccessIsPassedOnAndNotRetried() throws Exception {
    server.enqueue(json(200, "{\"error\":{\"message\":\"provider overloaded\",\"code\":502}}"));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("r11"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.body()).contains("provider overloaded");
    assertThat(server.getRequestCount()).isEqualTo(1);
  }

  @Test
  void upstreamKeyReplacesClientAuthorizationAndHopByHopHeadersStay() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .setHeader("X-Generation-Id", "gen-1").setHeader("Keep-Alive", "timeout=5")
        .setHeader("x-request-id", "upstream-id").body(OK_JSON).build());
    UpstreamClient client = leaks.client(fast(server).upstreamApiKey("sk-upstream-secret").build());
    ClientRequest clientRequest =
        new ClientRequest(
            Endpoint.CHAT_COMPLETIONS,
            java.util.Map.of(
                "Authorization", java.util.List.of("Bearer client-key"),
                "Connection", java.util.List.of("keep-alive, X-Private"),
                "X-Private", java.util.List.of("secret-hop"),
                "Proxy-Authorization", java.util.List.of("Basic abc"),
                "TE", java.util.List.of("trailers"),
                "HTTP-Referer", java.util.List.of("https://example.test"),
                "Content-Length", java.util.List.of("999")),
            "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8),
            "rid-1",
            null,
            false);

    RecordingSink sink = new RecordingSink();
    client.start(clientRequest, sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    RecordedRequest upstreamRequest = server.takeRequest();

    assertThat(upstreamRequest.getHeaders().get("Authorization")).isEqualTo("Bearer sk-upstream-secret");
    assertThat(upstreamRequest.getHeaders().get("X-Private")).as("named by Connection").isNull();
    assertThat(upstreamRequest.getHeaders().get("Proxy-Authorization")).isNull();
    assertThat(upstreamRequest.getHeaders().get("TE")).isNull();
    assertThat(upstreamRequest.getHeaders().get("Content-Length")).as("set by OkHttp from the body").isEqualTo("2");
    assertThat(upstreamRequest.getHeaders().get("HTTP-Referer")).isEqualTo("https://example.test");
    assertThat(upstreamRequest.getHeaders().get("X-Request-Id")).isEqualTo("rid-1");
    assertThat(upstreamRequest.getTarget()).isEqualTo("/v1/chat/completions");
    assertThat(sink.header("X-Generation-Id")).isEqualTo("gen-1");
    assertThat(sink.header("Keep-Alive")).as("hop-by-hop not passed down").isNull();
    assertThat(sink.header("x-request-id")).as("the relay's id wins, set by the caller").isNull();
    assertThat(sink.header("X-Upstream-Request-Id")).isEqualTo("upstream-id");
  }

  @Test
  void withoutAnUpstreamKeyTheClientAuthorizationPassesThrough() throws Exception {
    server.enqueue(json(200, OK_JSON));
    UpstreamClient client = leaks.client(fast(server).build());
    ClientRequest clientRequest =
        new ClientRequest(Endpoint.CHAT_COMPLETIONS, java.util.Map.of("Authorization", java.util.List.of("Bearer client-key")),
            "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8), "rid-2", null, false);

    client.start(clientRequest, new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(server.takeRequest().getHeaders().get("Authorization")).isEqualTo("Bearer client-key");
  }

  @Test
  void modelsIsAGetWithoutBody() throws Exception {
    server.enqueue(json(200, "{\"data\":[]}"));
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(ClientRequest.of(Endpoint.MODELS, new byte[0], "m1"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    RecordedRequest upstreamRequest = server.takeRequest();

    assertThat(upstreamRequest.getMethod()).isEqualTo("GET");
    assertThat(upstreamRequest.getTarget()).isEqualTo("/v1/models");
    assertThat(sink.body()).isEqualTo("{\"data\":[]}");
  }

  @Test
  void exhaustedRetriesEndingOnALongRetryAfterStillSayShouldRetryFalse() throws Exception {
    server.enqueue(json(502, "{\"error\":{}}"));
    server.enqueue(json(502, "{\"error\":{}}"));
    server.enqueue(new MockResponse.Builder().code(503).setHeader("Retry-After", "120")
        .setHeader("Content-Type", "application/json").body("{\"error\":{}}").build());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("x1"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(503);
    assertThat(sink.header("X-Relay-Attempts")).isEqualTo("3");
    assertThat(sink.header("x-should-retry")).as("the proxy already spent every attempt").isEqualTo("false");
  }

  @Test
  void theUpstreamsOwnShouldRetryHeaderPassesThroughWhenTheProxySetsNone() throws Exception {
    server.enqueue(new MockResponse.Builder().code(409).setHeader("x-should-retry", "true")
        .setHeader("Content-Type", "application/json").body("{\"error\":{}}").build());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(chat("x2"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(409);
    assertThat(sink.header("x-should-retry")).isEqualTo("true");
  }

  @Test
  void anUnexpectedExceptionInsideTheExchangeIsA500InternalErrorNotTheUpstreamsFault() throws Exception {
    server.enqueue(json(200, "{\"ok\":true}"));
    UpstreamClient client = leaks.client(fast(server).build());
    RecordingSink sink = new RecordingSink() {
      @Override
      public void onResponse(int status, java.util.Map<String, java.util.List<String>> headers) {
        throw new IllegalStateException("a defect in the sink");
      }
    };

    ExchangeResult result = client.start(chat("bug-1"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.outcome()).isEqualTo(Outcome.INTERNAL_ERROR);
    assertThat(result.status()).isEqualTo(500);
    assertThat(result.errorCode()).isEqualTo("internal_error");
    assertThat(sink.failure.code()).isEqualTo("internal_error");
    assertThat(log.text()).contains("unexpected failure").contains("IllegalStateException: a defect in the sink")
        .containsPattern("\\tat dev\\.llmrelay\\.");
    assertThat(client.stats().internalErrors()).isEqualTo(1);
  }
}
