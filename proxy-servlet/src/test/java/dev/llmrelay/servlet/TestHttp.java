package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.internal.RealUpstreamClient;
import java.time.Duration;
import okhttp3.ConnectionPool;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.RequestBody;

/** The tests' HTTP client and the leak check every relay test ends with. */
final class TestHttp {
  static final MediaType JSON = MediaType.get("application/json");

  private TestHttp() {}

  /** A client that never retries on its own, so request counts are exact. */
  static OkHttpClient client() {
    return new OkHttpClient.Builder()
        .retryOnConnectionFailure(false)
        .connectionPool(new ConnectionPool())
        .readTimeout(Duration.ofSeconds(10))
        .build();
  }

  static void close(OkHttpClient http) {
    http.dispatcher().executorService().shutdown();
    http.connectionPool().evictAll();
  }

  static RequestBody json(String body) {
    return RequestBody.create(body, JSON);
  }

  /**
   * Asserts, waiting up to 2 s, that every permit is back, no upstream connection is leased and no
   * exchange is still running: the "worst bug this project can have" check.
   */
  static void assertNothingLeaked(UpstreamClient client) {
    RealUpstreamClient real = (RealUpstreamClient) client;
    await()
        .atMost(Duration.ofSeconds(2))
        .pollInterval(Duration.ofMillis(20))
        .untilAsserted(() -> {
          assertThat(real.gate().availablePermits())
              .as("free permits after the test")
              .isEqualTo(real.gate().maxPermits());
          assertThat(real.leasedConnections()).as("leased upstream connections after the test").isZero();
          assertThat(real.activeExchanges()).as("running exchanges after the test").isZero();
        });
  }
}
