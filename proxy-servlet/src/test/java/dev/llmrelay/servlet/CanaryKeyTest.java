package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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

/**
 * The upstream key and the proxy keys are secrets: with debug logging on, across success, errors,
 * streams and health checks, neither ever appears in a response or in the log, and the proxy key
 * never travels upstream. The log is the slf4j-simple file configured in surefire ({@code
 * llmrelay.test.logFile}).
 */
class CanaryKeyTest {
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private static final String UPSTREAM_CANARY = "sk-upstream-CANARY-5f0c9a1e7d";
  private static final String RELAY_CANARY = "relay-CANARY-b7e21d44c3";
  private static final String WRONG_CANARY = "relay-CANARY-wrong-9a8b7c";

  private MockWebServer upstream;
  private UpstreamClient client;
  private JettyRelay relay;
  private final OkHttpClient http = TestHttp.client();

  @BeforeEach
  void start() throws Exception {
    upstream = Upstreams.start();
    client =
        leaks.client(
            Upstreams.config(upstream)
                .upstreamApiKey(UPSTREAM_CANARY)
                .debugMode(true)
                .maxAttempts(2)
                .build());
    relay = JettyRelay.mount(client, List.of("other-key", RELAY_CANARY));
  }

  @AfterEach
  void stop() throws Exception {
    try {
      TestHttp.close(http);
      relay.close();
    } finally {
      upstream.close();
    }
  }

  private String exchange(Request.Builder request) throws IOException {
    try (Response response = http.newCall(request.build()).execute()) {
      return response.code() + "\n" + response.headers() + "\n" + response.body().string();
    }
  }

  private Request.Builder chat(String key, String body) {
    return new Request.Builder()
        .url(relay.url("/v1/chat/completions"))
        .header("Authorization", "Bearer " + key)
        .post(TestHttp.json(body));
  }

  @Test
  void canaryKeysNeverAppearInResponsesOrLogsAndTheProxyKeyNeverGoesUpstream() throws Exception {
    upstream.enqueue(Upstreams.chatJson());
    MockResponse cdnPage = new MockResponse.Builder().code(500).setHeader("Content-Type", "text/html").body("<html>oops</html>").build();
    upstream.enqueue(cdnPage);
    upstream.enqueue(cdnPage);
    upstream.enqueue(
        new MockResponse.Builder()
            .code(401)
            .setHeader("Content-Type", "application/json")
            .body("{\"error\":{\"message\":\"Invalid key\",\"type\":\"auth\",\"code\":\"invalid_api_key\"}}")
            .build());
    upstream.enqueue(Upstreams.sse(SseBodies.gated(List.of(Upstreams.chunk("x"), Upstreams.finalChunk(), Upstreams.DONE), List.of())));
    upstream.enqueue(new MockResponse.Builder().code(401).body("{}").build()); // health probe

    List<String> responses = new ArrayList<>();
    responses.add(exchange(chat(RELAY_CANARY, Upstreams.CHAT_REQUEST).header("X-Request-Id", "canary-ok")));
    responses.add(exchange(chat(WRONG_CANARY, Upstreams.CHAT_REQUEST)));
    responses.add(exchange(new Request.Builder().url(relay.url("/v1/models")).header("Authorization", WRONG_CANARY)));
    responses.add(exchange(chat(RELAY_CANARY, Upstreams.CHAT_REQUEST)));
    responses.add(exchange(chat(RELAY_CANARY, Upstreams.CHAT_REQUEST)));
    responses.add(exchange(chat(RELAY_CANARY, "{\"model\":\"m\",\"stream\":true,\"messages\":[]}")));
    responses.add(exchange(chat(RELAY_CANARY, "not json " + RELAY_CANARY)));
    responses.add(exchange(new Request.Builder().url(relay.url("/health/upstream")).header("X-Request-Id", "canary-last")));
    responses.add(exchange(new Request.Builder().url(relay.url("/health"))));

    assertThat(responses.get(0)).as("the first request succeeded").startsWith("200");
    assertThat(responses.get(1)).as("the wrong key was refused").startsWith("401");
    for (String response : responses) {
      assertThat(response).as("a response").doesNotContain(UPSTREAM_CANARY, RELAY_CANARY, WRONG_CANARY);
    }

    // The upstream saw only the upstream key
    assertThat(upstream.getRequestCount()).as("upstream requests").isEqualTo(6);
    for (int i = 0; i < 6; i++) {
      RecordedRequest upstreamRequest = upstream.takeRequest();
      assertThat(upstreamRequest.getHeaders().get("Authorization"))
          .as("Authorization upstream on " + upstreamRequest.getTarget())
          .isEqualTo("Bearer " + UPSTREAM_CANARY);
      String all = upstreamRequest.getHeaders() + "\n" + (upstreamRequest.getBody() == null ? "" : upstreamRequest.getBody().utf8());
      assertThat(all).as("upstream request").doesNotContain(RELAY_CANARY, WRONG_CANARY);
    }

    // And nothing in the log holds a key
    String logFile = System.getProperty("llmrelay.test.logFile");
    assumeTrue(logFile != null, "log capture is configured by surefire (llmrelay.test.logFile)");
    Path log = Path.of(logFile);
    await()
        .atMost(Duration.ofSeconds(2))
        .untilAsserted(() -> assertThat(Files.readString(log, StandardCharsets.UTF_8))
            .as("request log line of the first request")
            .contains("request canary-ok "));
    String text = Files.readString(log, StandardCharsets.UTF_8);
    assertThat(text).as("captured log output").contains("canary-ok").doesNotContain(UPSTREAM_CANARY, RELAY_CANARY, WRONG_CANARY);
    assertThat(text.toLowerCase(java.util.Locale.ROOT)).as("captured log output").doesNotContain("canary-5f0c", "canary-b7e2", "canary-wrong");
  }
}
