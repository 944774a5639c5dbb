package dev.llmrelay.core.metrics;

import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.RecordingSink;
import dev.llmrelay.core.UpstreamClient;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;

class MicrometerMetricsTest {
  @StartStop public final MockWebServer server = new MockWebServer();

  @Test
  void attemptsRetriesHistogramsAndGaugesAreRecorded() throws Exception {
    server.enqueue(new MockResponse.Builder().code(503).setHeader("Content-Type", "application/json").body("{}").build());
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}").build());
    server.enqueue(new MockResponse.Builder().code(200).body("{}").build());
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (UpstreamClient client = UpstreamClient.builder(fast(server).build()).listener(new MicrometerMetrics(registry)).build()) {
      assertThat(registry.get("llmrelay.requests").tags("outcome", "timeout", "stream", "false").counter().count())
          .as("series exist before traffic").isZero();

      client.start(chat("m-1"), new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
      client.healthProbe().check().toCompletableFuture().get(5, TimeUnit.SECONDS);

      assertThat(registry.get("llmrelay.requests").tags("outcome", "success", "stream", "false").counter().count()).isEqualTo(1);
      assertThat(registry.get("llmrelay.upstream.attempts").tags("result", "http_5xx").counter().count()).isEqualTo(1);
      assertThat(registry.get("llmrelay.upstream.attempts").tags("result", "success").counter().count()).isEqualTo(1);
      assertThat(registry.get("llmrelay.retries").tags("reason", "http_5xx").counter().count()).isEqualTo(1);
      assertThat(registry.get("llmrelay.tokens").tags("kind", "prompt").counter().count()).isEqualTo(3);
      assertThat(registry.get("llmrelay.tokens").tags("kind", "completion").counter().count()).isEqualTo(4);
      assertThat(registry.get("llmrelay.request.duration").timer().count()).isEqualTo(1);
      assertThat(registry.get("llmrelay.upstream.time.to.headers").timer().count()).isEqualTo(1);
      assertThat(registry.get("llmrelay.queue.wait").timer().count()).isEqualTo(1);
      assertThat(registry.get("llmrelay.permits.available").gauge().value()).isEqualTo(10);
      assertThat(registry.get("llmrelay.inflight.requests").gauge().value()).isZero();
      assertThat(registry.get("llmrelay.queued.requests").gauge().value()).isZero();
      await().atMost(Duration.ofSeconds(2)).until(() -> registry.get("llmrelay.upstream.up").gauge().value() == 1.0);
      assertThat(registry.find("okhttp.pool.connection.count").gauges()).isNotEmpty();
    }
  }

  @Test
  void attemptResultsAreBucketedIntoBoundedValues() {
    assertThat(MicrometerMetrics.attemptResult("200")).isEqualTo("success");
    assertThat(MicrometerMetrics.attemptResult("404")).isEqualTo("http_4xx");
    assertThat(MicrometerMetrics.attemptResult("429")).isEqualTo("http_429");
    assertThat(MicrometerMetrics.attemptResult("529")).isEqualTo("http_5xx");
    assertThat(MicrometerMetrics.attemptResult("timeout")).isEqualTo("timeout");
    assertThat(MicrometerMetrics.ATTEMPT_RESULTS).contains("success", "http_4xx", "http_429", "http_5xx", "timeout", "idle_timeout", "connect_error", "reset");
  }

  @Test
  void routeGaugesExistOnlyForAllowListedModels() throws Exception {
    server.setDispatcher(new mockwebserver3.Dispatcher() {
      @Override
      public MockResponse dispatch(mockwebserver3.RecordedRequest request) {
        return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{}").build();
      }
    });
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (UpstreamClient client = UpstreamClient.builder(fast(server).modelFallbacks(java.util.Map.of("known", java.util.List.of("other"))).build())
        .listener(new MicrometerMetrics(registry)).build()) {
      for (String model : new String[] {"known", "random-model-from-a-request"}) {
        byte[] body = ("{\"model\":\"" + model + "\"}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        client.start(new dev.llmrelay.core.ClientRequest(dev.llmrelay.core.Endpoint.CHAT_COMPLETIONS, java.util.Map.of(), body, model, model, false),
            new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
        Thread.sleep(1100); // route gauges are registered at most once a second
      }
      client.start(new dev.llmrelay.core.ClientRequest(dev.llmrelay.core.Endpoint.CHAT_COMPLETIONS, java.util.Map.of(),
          "{\"model\":\"known\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8), "k2", "known", false), new RecordingSink())
          .completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

      assertThat(registry.find("llmrelay.route.attempt.timeout").tag("model", "known").gauge()).isNotNull();
      assertThat(registry.find("llmrelay.route.attempt.timeout").tag("model", "known").gauge().value()).isEqualTo(0.4);
      assertThat(registry.find("llmrelay.route.breaker.open").tag("model", "known").gauge().value()).isZero();
      assertThat(registry.find("llmrelay.route.attempt.timeout").tag("model", "random-model-from-a-request").gauge())
          .as("a model only a request named never becomes a label").isNull();
    }
  }

  @Test
  void jobAndSharedStateRefusalsAreCountedByReason() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (UpstreamClient client = UpstreamClient.builder(dev.llmrelay.core.TestConfigs.fast("http://127.0.0.1:1/v1").build())
        .listener(new MicrometerMetrics(registry)).build()) {
      for (String code : java.util.List.of("job_queue_full", "job_not_found", "invalid_parameter", "shared_state_unavailable")) {
        client.recordRejection("r-" + code, "POST", "/v1/relay/jobs", new dev.llmrelay.core.RelayException(400, code, "refused", null, false, 0, null) {
          private static final long serialVersionUID = 1L;
        });
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).untilAsserted(() ->
            org.assertj.core.api.Assertions.assertThat(registry.get("llmrelay.rejected").tag("reason", code).counter().count())
                .as(code).isEqualTo(1.0));
      }
    }
  }
}
