package com.example;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.sun.net.httpserver.HttpServer;
import dev.llmrelay.core.HealthReport;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import java.net.InetSocketAddress;
import java.net.URL;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** proxy-core and the OpenAI SDK in one JVM: one OkHttp on the class path, and both work on it. */
class OneOkHttpTest {

  @Test
  void theClassPathHoldsOneOkHttpAndItIsOkHttp5() throws Exception {
    List<URL> copies =
        Collections.list(getClass().getClassLoader().getResources("okhttp3/OkHttpClient.class"));

    assertEquals(1, copies.size(), "copies of okhttp3.OkHttpClient: " + copies);
    assertTrue(okhttp3.OkHttp.VERSION.startsWith("5."), "OkHttp " + okhttp3.OkHttp.VERSION);
  }

  @Test
  void bothClientsTalkToTheSameUpstreamOverTheOneOkHttp() throws Exception {
    // Given a local upstream that lists one model
    HttpServer upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    upstream.createContext("/v1/models", exchange -> {
      byte[] body = ("{\"object\":\"list\",\"data\":[{\"id\":\"m1\",\"object\":\"model\","
          + "\"created\":0,\"owned_by\":\"test\"}]}").getBytes(UTF_8);
      exchange.getResponseHeaders().set("Content-Type", "application/json");
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    upstream.start();
    String baseUrl = "http://127.0.0.1:" + upstream.getAddress().getPort() + "/v1";
    RelayConfig config =
        RelayConfig.builder().upstreamBaseUrl(baseUrl).healthInterval(Duration.ZERO).build();
    try (UpstreamClient relay = UpstreamClient.create(config)) {
      OpenAIClient openai =
          OpenAIOkHttpClient.builder().baseUrl(baseUrl).apiKey("sk-test").maxRetries(0).build();
      try {
        // When each client calls it, Then each gets its answer
        assertEquals("m1", openai.models().list().data().get(0).id());
        HealthReport report =
            relay.healthProbe().check().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertTrue(report.healthy(), "relay health: " + report);
      } finally {
        openai.close();
      }
    } finally {
      upstream.stop(0);
    }
  }
}
