package dev.llmrelay.servlet;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import java.io.IOException;
import java.util.function.UnaryOperator;
import mockwebserver3.MockWebServer;
import okhttp3.OkHttpClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * The set-up every container test shares: a MockWebServer upstream on loopback, a relay client,
 * a real Jetty with both servlets, and a test HTTP client; after each test, the leak check and
 * a clean shutdown of all four.
 */
abstract class RelayTestBase {
  MockWebServer upstream;
  UpstreamClient client;
  JettyRelay relay;
  final OkHttpClient http = TestHttp.client();

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = Upstreams.start();
  }

  /** Starts the client (fast test configuration, adjusted by {@code config}) and Jetty. */
  void startRelay(UnaryOperator<RelayConfig.Builder> config) throws Exception {
    startRelay(config, java.util.List.of());
  }

  /** The same, with the proxy keys clients must present. */
  void startRelay(UnaryOperator<RelayConfig.Builder> config, java.util.List<String> proxyKeys) throws Exception {
    client = UpstreamClient.create(config.apply(Upstreams.config(upstream)).build());
    relay = JettyRelay.mount(client, proxyKeys);
  }

  @AfterEach
  void stopAll() throws Exception {
    try {
      if (client != null) {
        TestHttp.assertNothingLeaked(client);
      }
    } finally {
      TestHttp.close(http);
      if (relay != null) {
        relay.close();
      }
      if (client != null) {
        client.close();
      }
      upstream.close();
    }
  }
}
