package dev.llmrelay.servlet;

import java.time.Duration;
import okhttp3.ConnectionPool;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.RequestBody;

/** The tests' HTTP client and request bodies. */
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
}
