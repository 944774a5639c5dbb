package dev.llmrelay.servlet;

import dev.llmrelay.core.RelayConfig;
import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;

/** The fake upstream of the tests: a MockWebServer on loopback and a fast relay configuration. */
final class Upstreams {
  static final String CHAT_JSON =
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"test-model\","
          + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello!\"},"
          + "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}";
  static final String CHAT_REQUEST =
      "{\"model\":\"test-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

  private Upstreams() {}

  /** A started upstream bound to 127.0.0.1 only. */
  static MockWebServer start() throws IOException {
    MockWebServer server = new MockWebServer();
    server.start(InetAddress.getByName("127.0.0.1"), 0);
    return server;
  }

  /** A configuration pointing at {@code upstream} with timeouts short enough for tests. */
  static RelayConfig.Builder config(MockWebServer upstream) {
    return RelayConfig.builder()
        .upstreamBaseUrl("http://127.0.0.1:" + upstream.getPort() + "/v1")
        .attemptTimeout(Duration.ofSeconds(1))
        .retryTimeout(Duration.ofSeconds(1))
        .streamIdleTimeout(Duration.ofSeconds(1))
        .connectTimeout(Duration.ofSeconds(1))
        .backoffInitial(Duration.ofMillis(10))
        .backoffMax(Duration.ofMillis(40))
        .maxWait(Duration.ofMillis(300))
        .healthTimeout(Duration.ofSeconds(1))
        .healthInterval(Duration.ZERO)
        .healthCache(Duration.ZERO)
        .debugModeFile(null);
  }

  /** A JSON chat completion answer. */
  static MockResponse chatJson() {
    return new MockResponse.Builder()
        .code(200)
        .setHeader("Content-Type", "application/json")
        .body(CHAT_JSON)
        .build();
  }

  /** An SSE answer whose body is {@code body}, with no Transfer-Encoding (see PITFALLS, MockWebServer). */
  static MockResponse sse(mockwebserver3.MockResponseBody body) {
    return new MockResponse.Builder()
        .code(200)
        .setHeader("Content-Type", "text/event-stream")
        .setHeader("Cache-Control", "no-cache")
        .body(body)
        .build();
  }

  /** One chat completion chunk event carrying {@code content}. */
  static String chunk(String content) {
    return "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        + "\"model\":\"test-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
        + content
        + "\"},\"finish_reason\":null}]}\n\n";
  }

  /** The final chunk event with {@code finish_reason: stop}. */
  static String finalChunk() {
    return "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        + "\"model\":\"test-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
  }

  static final String DONE = "data: [DONE]\n\n";
}
