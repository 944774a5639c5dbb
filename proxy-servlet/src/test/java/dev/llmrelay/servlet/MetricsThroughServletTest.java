package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.metrics.MicrometerMetrics;
import dev.llmrelay.core.testing.LeakCheck;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.SocketEffect;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Each request outcome drives its own meter, through a real Jetty and the relay servlet. */
class MetricsThroughServletTest {
  @RegisterExtension final LeakCheck leaks = new LeakCheck();
  private MockWebServer upstream;
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private UpstreamClient client;
  private JettyRelay jetty;
  private final OkHttpClient http = TestHttp.client();

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = Upstreams.start();
  }

  @AfterEach
  void stop() throws IOException {
    if (jetty != null) {
      jetty.close();
    }
    TestHttp.close(http);
    upstream.close();
  }

  private void relay(UnaryOperator<RelayConfig.Builder> tweak) throws Exception {
    client = leaks.track(UpstreamClient.builder(tweak.apply(Upstreams.config(upstream)).build())
        .listener(new MicrometerMetrics(registry))
        .build());
    jetty = JettyRelay.mount(client);
  }

  private int chat(String body) throws IOException {
    try (Response r = http.newCall(new Request.Builder().url(jetty.url("/v1/chat/completions"))
        .post(TestHttp.json(body)).build()).execute()) {
      r.body().bytes();
      return r.code();
    }
  }

  private double requests(String outcome, boolean stream) {
    return registry.get("llmrelay.requests").tags("outcome", outcome, "stream", String.valueOf(stream)).counter().count();
  }

  private double count(String name, String tag, String value) {
    return registry.get(name).tags(tag, value).counter().count();
  }

  @Test
  void successCountsTheRequestItsAttemptTokensAndHistograms() throws Exception {
    relay(b -> b);
    upstream.enqueue(Upstreams.chatJson());

    assertThat(chat(Upstreams.CHAT_REQUEST)).isEqualTo(200);

    await().until(() -> requests("success", false) == 1);
    assertThat(count("llmrelay.upstream.attempts", "result", "success")).isEqualTo(1);
    assertThat(count("llmrelay.tokens", "kind", "prompt")).isEqualTo(3);
    assertThat(count("llmrelay.tokens", "kind", "completion")).isEqualTo(2);
    assertThat(registry.get("llmrelay.request.duration").timer().count()).isEqualTo(1);
    assertThat(registry.get("llmrelay.upstream.time.to.headers").timer().count()).isEqualTo(1);
    assertThat(registry.get("llmrelay.queue.wait").timer().count()).isEqualTo(1);
  }

  @Test
  void anUpstreamClientErrorCountsAsUpstream4xx() throws Exception {
    relay(b -> b);
    upstream.enqueue(new MockResponse.Builder().code(400).setHeader("Content-Type", "application/json").body("{\"error\":{}}").build());

    assertThat(chat(Upstreams.CHAT_REQUEST)).isEqualTo(400);

    await().until(() -> requests("upstream_4xx", false) == 1);
    assertThat(count("llmrelay.upstream.attempts", "result", "http_4xx")).isEqualTo(1);
    assertThat(registry.get("llmrelay.retries").counters()).allSatisfy(c -> assertThat(c.count()).isZero());
  }

  @Test
  void exhaustedServerErrorsCountAsUpstream5xxWithTheirRetries() throws Exception {
    relay(b -> b);
    for (int i = 0; i < 3; i++) {
      upstream.enqueue(new MockResponse.Builder().code(502).setHeader("Content-Type", "application/json").body("{\"error\":{}}").build());
    }

    assertThat(chat(Upstreams.CHAT_REQUEST)).isEqualTo(502);

    await().until(() -> requests("upstream_5xx", false) == 1);
    assertThat(count("llmrelay.upstream.attempts", "result", "http_5xx")).isEqualTo(3);
    assertThat(count("llmrelay.retries", "reason", "http_5xx")).isEqualTo(2);
  }

  @Test
  void aSilentUpstreamCountsAsTimeout() throws Exception {
    relay(b -> b.attemptTimeout(Duration.ofMillis(300)).retryTimeout(Duration.ofMillis(300)));
    for (int i = 0; i < 3; i++) {
      upstream.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    }

    assertThat(chat(Upstreams.CHAT_REQUEST)).isEqualTo(504);

    await().until(() -> requests("timeout", false) == 1);
    assertThat(count("llmrelay.upstream.attempts", "result", "timeout")).isEqualTo(3);
    assertThat(count("llmrelay.retries", "reason", "timeout")).isEqualTo(2);
  }

  @Test
  void aRefusedConnectionCountsAsUnreachable() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    int port = closedPort;
    relay(b -> b.upstreamBaseUrl("http://127.0.0.1:" + port + "/v1"));

    assertThat(chat(Upstreams.CHAT_REQUEST)).isEqualTo(502);

    await().until(() -> requests("unreachable", false) == 1);
    assertThat(count("llmrelay.upstream.attempts", "result", "connect_error")).isEqualTo(3);
    assertThat(count("llmrelay.retries", "reason", "connect_error")).isEqualTo(2);
  }

  @Test
  void refusedRequestsCountAsRejectedWithTheirReason() throws Exception {
    relay(b -> b.maxRequestBytes(64).maxConcurrentRequests(1).maxWait(Duration.ofMillis(200)));
    CountDownLatch upstreamClosed = new CountDownLatch(1);
    upstream.enqueue(Upstreams.sse(SseBodies.endless(50, 40, upstreamClosed)));

    assertThat(chat("{\"model\":\"m\",\"messages\":[{\"content\":\"" + "x".repeat(100) + "\"}]}")).isEqualTo(413);
    assertThat(chat("not json")).isEqualTo(400);
    CompletableFuture<Integer> holder = CompletableFuture.supplyAsync(() -> {
      try {
        return chat("{\"model\":\"m\",\"stream\":true}");
      } catch (IOException e) {
        return -1;
      }
    });
    await().until(() -> client.stats().inFlight() == 1);
    assertThat(chat("{\"model\":\"m\"}")).isEqualTo(503);
    holder.get(10, TimeUnit.SECONDS);

    await().until(() -> requests("rejected", false) == 3);
    assertThat(count("llmrelay.rejected", "reason", "request_too_large")).isEqualTo(1);
    assertThat(count("llmrelay.rejected", "reason", "invalid_json")).isEqualTo(1);
    assertThat(count("llmrelay.rejected", "reason", "concurrency_limit")).isEqualTo(1);
  }

  @Test
  void aClientThatLeavesMidStreamCountsAsClientCancelledInTheStreamingPhase() throws Exception {
    relay(b -> b.streamIdleTimeout(Duration.ofSeconds(5)));
    CountDownLatch upstreamClosed = new CountDownLatch(1);
    upstream.enqueue(Upstreams.sse(SseBodies.endless(20, 1000, upstreamClosed)));

    Response response = http.newCall(new Request.Builder().url(jetty.url("/v1/chat/completions"))
        .post(TestHttp.json("{\"model\":\"m\",\"stream\":true}")).build()).execute();
    InputStream in = response.body().byteStream();
    assertThat(in.read(new byte[64])).isPositive();
    response.close();

    assertThat(upstreamClosed.await(5, TimeUnit.SECONDS)).isTrue();
    await().until(() -> requests("client_cancelled", true) == 1);
    assertThat(count("llmrelay.client.disconnects", "phase", "streaming")).isEqualTo(1);
  }

  @Test
  void aStreamCutAfterItsFirstEventCountsAsMidstreamFailure() throws Exception {
    relay(b -> b);
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(Upstreams.chunk("a") + Upstreams.chunk("b"))
        .onResponseEnd(new SocketEffect.CloseSocket(true, false, false)).build());

    assertThat(chat("{\"model\":\"m\",\"stream\":true}")).isEqualTo(200);

    await().until(() -> requests("midstream_failure", true) == 1);
    assertThat(count("llmrelay.midstream.failures", "cause", "eof")).isEqualTo(1);
    assertThat(registry.get("llmrelay.stream.time.to.first.event").timer().count()).isEqualTo(1);
  }

  @Test
  void gaugesReturnToZeroAfterLoad() throws Exception {
    relay(b -> b.maxConcurrentRequests(3).maxWait(Duration.ofSeconds(10)));
    for (int i = 0; i < 12; i++) {
      upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
          .body(Upstreams.CHAT_JSON).headersDelay(100, TimeUnit.MILLISECONDS).build());
    }
    List<CompletableFuture<Integer>> calls = new ArrayList<>();
    // Twelve callers at once: their own threads (the common pool of a 2-core machine may run one).
    java.util.concurrent.ExecutorService callers = java.util.concurrent.Executors.newFixedThreadPool(12);
    for (int i = 0; i < 12; i++) {
      calls.add(CompletableFuture.supplyAsync(() -> {
        try {
          return chat(Upstreams.CHAT_REQUEST);
        } catch (IOException e) {
          return -1;
        }
      }, callers));
    }
    callers.shutdown();
    await().atMost(Duration.ofSeconds(5)).until(() -> registry.get("llmrelay.queued.requests").gauge().value() > 0);
    assertThat(registry.get("llmrelay.inflight.requests").gauge().value()).isEqualTo(3);

    for (CompletableFuture<Integer> c : calls) {
      assertThat(c.get(20, TimeUnit.SECONDS)).isEqualTo(200);
    }
    await().untilAsserted(() -> {
      assertThat(registry.get("llmrelay.inflight.requests").gauge().value()).isZero();
      assertThat(registry.get("llmrelay.queued.requests").gauge().value()).isZero();
      assertThat(registry.get("llmrelay.permits.available").gauge().value()).isEqualTo(3);
    });
    assertThat(requests("success", false)).isEqualTo(12);
    assertThat(registry.get("llmrelay.queue.wait").timer().max(TimeUnit.MILLISECONDS)).as("some waited").isPositive();
  }
}
