package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.UpstreamConfig;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A models array through HTTP, and /health/upstream with several upstreams and their breakers. */
class FailoverThroughServletTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  @RegisterExtension final LeakCheck leaks = new LeakCheck();
  private MockWebServer primary;
  private MockWebServer secondary;
  private UpstreamClient client;
  private JettyRelay jetty;
  private final OkHttpClient http = TestHttp.client();

  @BeforeEach
  void start() throws Exception {
    primary = Upstreams.start();
    secondary = Upstreams.start();
    Dispatcher byModel = new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        if (request.getTarget().endsWith("/models")) {
          return new MockResponse.Builder().code(200).body("{\"data\":[]}").build();
        }
        String model = "?";
        try {
          model = JSON.readTree(request.getBody().utf8()).path("model").asText();
        } catch (IOException ignored) {
          // keep "?"
        }
        return "a".equals(model)
            ? new MockResponse.Builder().code(503).setHeader("Content-Type", "application/json").body("{\"error\":{}}").build()
            : new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
                .body("{\"id\":\"x\",\"model\":\"" + model + "\",\"choices\":[]}").build();
      }
    };
    primary.setDispatcher(byModel);
    secondary.setDispatcher(byModel);
    client = leaks.client(Upstreams.config(primary)
        .addUpstream(new UpstreamConfig("upstream2", URI.create("http://127.0.0.1:" + secondary.getPort() + "/v1"), "sk-second", 1, Set.of("b")))
        .maxAttempts(1)
        .breakerFailures(1)
        .breakerOpen(Duration.ofSeconds(30))
        .modelFallbacks(Map.of("a", List.of("b")))
        .build());
    jetty = JettyRelay.mount(client);
  }

  @AfterEach
  void stop() throws IOException {
    jetty.close();
    TestHttp.close(http);
    primary.close();
    secondary.close();
  }

  @Test
  void aModelsArrayIsServedByTheFallbackAndTheHeadersSayWhich() throws Exception {
    try (Response r = http.newCall(new Request.Builder().url(jetty.url("/v1/chat/completions"))
        .post(TestHttp.json("{\"model\":\"a\",\"models\":[\"a\",\"b\"],\"messages\":[]}")).build()).execute()) {
      assertThat(r.code()).isEqualTo(200);
      assertThat(r.header("X-Relay-Model")).isEqualTo("b");
      assertThat(r.header("X-Relay-Upstream")).isNotBlank();
      assertThat(JSON.readTree(r.body().string()).path("model").asText()).isEqualTo("b");
    }
  }

  @Test
  void healthUpstreamReportsEachUpstreamAndItsBreakers() throws Exception {
    // One request opens a@primary (it fails once, BREAKER_FAILURES=1) and b answers.
    try (Response r = http.newCall(new Request.Builder().url(jetty.url("/v1/chat/completions"))
        .post(TestHttp.json("{\"model\":\"a\",\"messages\":[]}")).build()).execute()) {
      assertThat(r.code()).isEqualTo(200);
    }

    try (Response r = http.newCall(new Request.Builder().url(jetty.url("/health/upstream")).build()).execute()) {
      String body = r.body().string();
      assertThat(r.code()).isEqualTo(200);
      JsonNode health = JSON.readTree(body);
      assertThat(health.path("status").asText()).isEqualTo("ok");
      assertThat(health.path("upstreams")).hasSize(2);
      JsonNode first = health.path("upstreams").get(0);
      assertThat(first.path("name").asText()).isEqualTo("primary");
      assertThat(first.path("upstream").asText()).isEqualTo("reachable");
      JsonNode routeA = null;
      for (JsonNode route : first.path("routes")) {
        if ("a".equals(route.path("model").asText())) {
          routeA = route;
        }
      }
      assertThat(routeA).as("route a@primary").isNotNull();
      assertThat(routeA.path("breaker").asText()).isEqualTo("open");
      assertThat(routeA.path("retry_in_ms").asLong()).isBetween(1L, 36_000L);
      assertThat(routeA.path("attempt_timeout_ms").asLong()).isPositive();
      assertThat(body).doesNotContain("sk-second");
    }
  }
}
