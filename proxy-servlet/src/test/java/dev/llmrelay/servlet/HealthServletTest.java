package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import okhttp3.Request;
import okhttp3.Response;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.junit.jupiter.api.Test;

/** {@code GET /health} and {@code GET /health/upstream} in a real Jetty 12, as DESIGN.md §3 says. */
class HealthServletTest extends RelayTestBase {
  private static final ObjectMapper MAPPER = new ObjectMapper();


  private Response get(String path) throws IOException {
    return http.newCall(new Request.Builder().url(relay.url(path)).build()).execute();
  }

  private static List<String> fieldNames(JsonNode node) {
    List<String> names = new ArrayList<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }

  @Test
  void livenessAnswersOkWithoutCallingTheUpstream() throws Exception {
    startRelay(c -> c.maxConcurrentRequests(4));

    try (Response response = get("/health")) {
      assertThat(response.code()).as("status").isEqualTo(200);
      assertThat(response.header("Content-Type")).as("content type").startsWith("application/json");
      assertThat(response.header("X-Request-Id")).as("request id").isNotBlank();
      JsonNode body = MAPPER.readTree(response.body().string());
      assertThat(body.path("status").asText()).as("status field").isEqualTo("ok");
      assertThat(body.path("max_concurrent").asInt()).as("max_concurrent").isEqualTo(4);
      assertThat(body.path("permits_available").asInt()).as("permits_available").isEqualTo(4);
      assertThat(body.path("in_flight").asInt()).as("in_flight").isZero();
      assertThat(body.path("queued").asInt()).as("queued").isZero();
    }
    assertThat(upstream.getRequestCount()).as("upstream requests").isZero();
  }

  @Test
  void reachableUpstreamAnswers200WithResponseTime() throws Exception {
    startRelay(c -> c);
    upstream.enqueue(new MockResponse.Builder().code(200).body("{\"data\":[]}").build());

    try (Response response = get("/health/upstream")) {
      assertThat(response.code()).as("status").isEqualTo(200);
      JsonNode body = MAPPER.readTree(response.body().string());
      assertThat(fieldNames(body)).as("fields").containsExactly("status", "upstream", "response_time_ms");
      assertThat(body.path("status").asText()).as("status field").isEqualTo("ok");
      assertThat(body.path("upstream").asText()).as("upstream field").isEqualTo("reachable");
      assertThat(body.path("response_time_ms").isIntegralNumber()).as("response_time_ms is a number").isTrue();
    }
    assertThat(upstream.takeRequest(1, TimeUnit.SECONDS).getTarget()).as("probe path").isEqualTo("/v1/models");
  }

  @Test
  void upstreamHttpErrorAnswers503WithHttpStatus() throws Exception {
    startRelay(c -> c.upstreamApiKey("sk-health-secret-123456"));
    upstream.enqueue(new MockResponse.Builder().code(401).body("{\"error\":\"bad key sk-health-secret-123456\"}").build());

    try (Response response = get("/health/upstream")) {
      String text = response.body().string();
      assertThat(response.code()).as("status").isEqualTo(503);
      JsonNode body = MAPPER.readTree(text);
      assertThat(fieldNames(body))
          .as("fields")
          .containsExactly("status", "upstream", "response_time_ms", "message", "http_status");
      assertThat(body.path("status").asText()).as("status field").isEqualTo("error");
      assertThat(body.path("upstream").asText()).as("upstream field").isEqualTo("http_error");
      assertThat(body.path("http_status").asInt()).as("http_status").isEqualTo(401);
      assertThat(body.path("message").asText()).as("message").isNotBlank();
      assertThat(text).as("health answer never holds the key").doesNotContain("sk-health-secret");
    }
  }

  @Test
  void silentUpstreamAnswers503Timeout() throws Exception {
    startRelay(c -> c.healthTimeout(Duration.ofMillis(300)));
    upstream.enqueue(new MockResponse.Builder().headersDelay(3, TimeUnit.SECONDS).body("{}").build());

    try (Response response = get("/health/upstream")) {
      assertThat(response.code()).as("status").isEqualTo(503);
      JsonNode body = MAPPER.readTree(response.body().string());
      assertThat(body.path("upstream").asText()).as("upstream field").isEqualTo("timeout");
      assertThat(body.has("http_status")).as("http_status only for http_error").isFalse();
      assertThat(body.path("response_time_ms").asLong()).as("response_time_ms").isBetween(250L, 2500L);
    }
  }

  @Test
  void unreachableUpstreamAnswers503Unreachable() throws Exception {
    int closedPort;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      closedPort = socket.getLocalPort();
    }
    int port = closedPort;
    startRelay(c -> c.upstreamBaseUrl("http://127.0.0.1:" + port + "/v1"));

    try (Response response = get("/health/upstream")) {
      assertThat(response.code()).as("status").isEqualTo(503);
      JsonNode body = MAPPER.readTree(response.body().string());
      assertThat(body.path("status").asText()).as("status field").isEqualTo("error");
      assertThat(body.path("upstream").asText()).as("upstream field").isEqualTo("unreachable");
      assertThat(body.path("message").asText()).as("message").isNotBlank();
    }
  }

  @Test
  void healthServletMappedWithAWildcardServesBothPathsAndRefusesOthers() throws Exception {
    client = leaks.client(Upstreams.config(upstream).build());
    relay = JettyRelay.start(context -> context.addServlet(new ServletHolder(new HealthServlet(client)), "/health/*"));
    upstream.enqueue(new MockResponse.Builder().code(200).body("{}").build());

    try (Response live = get("/health");
        Response up = get("/health/upstream");
        Response other = get("/health/other");
        Response post =
            http.newCall(new Request.Builder().url(relay.url("/health")).post(TestHttp.json("{}")).build()).execute()) {
      assertThat(live.code()).as("/health").isEqualTo(200);
      assertThat(up.code()).as("/health/upstream").isEqualTo(200);
      assertThat(other.code()).as("/health/other").isEqualTo(404);
      assertThat(MAPPER.readTree(other.body().string()).at("/error/code").asText()).as("404 code").isEqualTo("not_found");
      assertThat(post.code()).as("POST /health").isEqualTo(405);
      assertThat(post.header("Allow")).as("Allow").isEqualTo("GET, HEAD");
    }
  }
}
