package dev.llmrelay.servlet;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.util.function.UnaryOperator;
import mockwebserver3.MockWebServer;
import okhttp3.OkHttpClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The set-up every container test shares: a MockWebServer upstream on loopback, a relay client,
 * a real Jetty with both servlets, and a test HTTP client; after each test, the leak check (on
 * the client, before anything is shut down) and a clean shutdown of all four.
 */
abstract class RelayTestBase {
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

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
    client = leaks.client(config.apply(Upstreams.config(upstream)).build());
    relay = JettyRelay.mount(client, proxyKeys);
  }

  /** Runs after the leak check; the client is closed by {@link #leaks}, after this. */
  @AfterEach
  void stopAll() throws Exception {
    try {
      TestHttp.close(http);
      if (relay != null) {
        relay.close();
      }
    } finally {
      upstream.close();
    }
  }
}
