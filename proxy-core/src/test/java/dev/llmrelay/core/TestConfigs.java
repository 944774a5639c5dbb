package dev.llmrelay.core;

import java.time.Duration;
import mockwebserver3.MockWebServer;

/** Configurations with short, injected timeouts so tests never wait for production values. */
public final class TestConfigs {
  private TestConfigs() {}

  /** Fast timeouts and backoffs against {@code server}; no heartbeat, no debug file. */
  public static RelayConfig.Builder fast(MockWebServer server) {
    return fast(server.url("/v1").toString());
  }

  /** Fast timeouts and backoffs against {@code baseUrl}. */
  public static RelayConfig.Builder fast(String baseUrl) {
    return RelayConfig.builder()
        .upstreamBaseUrl(baseUrl)
        .attemptTimeout(Duration.ofMillis(400))
        .retryTimeout(Duration.ofMillis(400))
        .streamIdleTimeout(Duration.ofMillis(400))
        .connectTimeout(Duration.ofMillis(500))
        .backoffInitial(Duration.ofMillis(10))
        .backoffMax(Duration.ofMillis(40))
        .maxWait(Duration.ofMillis(500))
        .healthInterval(Duration.ZERO)
        .healthTimeout(Duration.ofMillis(400))
        .healthCache(Duration.ZERO)
        .debugModeFile(null);
  }

  /** A minimal chat request body. */
  public static ClientRequest chat(String requestId) {
    return ClientRequest.of(
        Endpoint.CHAT_COMPLETIONS,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".getBytes(java.nio.charset.StandardCharsets.UTF_8),
        requestId);
  }
}
