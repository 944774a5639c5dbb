package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockResponseBody;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.BufferedSink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The launcher: configuration from env and .env, the unsafe-bind refusal, graceful stop. */
class RelayMainTest {
  @StartStop public final MockWebServer upstream = new MockWebServer();
  @TempDir Path dir;
  /** Checks the upstream client of every relay a test starts, before the relay is closed. */
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private final OkHttpClient http = new OkHttpClient.Builder().readTimeout(Duration.ofSeconds(20)).build();
  private RunningRelay relay;

  @AfterEach
  void stop() {
    if (relay != null) {
      relay.close();
    }
    http.dispatcher().executorService().shutdown();
    http.connectionPool().evictAll();
  }

  private Map<String, String> env(String... pairs) {
    Map<String, String> env = new HashMap<>();
    env.put("RELAY_PORT", "0");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("UPSTREAM_BASE_URL", upstream.url("/v1").toString());
    for (int i = 0; i < pairs.length; i += 2) {
      env.put(pairs[i], pairs[i + 1]);
    }
    return env;
  }

  private Response post(String path, String json) throws IOException {
    return http.newCall(new Request.Builder().url(relay.url() + path)
        .post(RequestBody.create(json, MediaType.get("application/json"))).build()).execute();
  }

  private Response get(String path) throws IOException {
    return http.newCall(new Request.Builder().url(relay.url() + path).build()).execute();
  }

  @Test
  void startsFromTheEnvironmentAndTheDotenvFileWithTheEnvironmentWinning() throws Exception {
    Path dotenv = dir.resolve(".env");
    Files.writeString(dotenv, "MAX_CONCURRENT_REQUESTS=5\nMAX_ATTEMPTS=1\nUPSTREAM_API_KEY=sk-from-dotenv\n");
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{\"id\":\"ok\"}").build());

    relay = RelayMain.start(env("MAX_CONCURRENT_REQUESTS", "3"), dotenv, false);

    leaks.track(relay.client());

    assertThat(relay.config().maxConcurrentRequests()).as("environment wins").isEqualTo(3);
    assertThat(relay.config().maxAttempts()).as(".env fills the gap").isEqualTo(1);
    assertThat(relay.url()).as("RELAY_HOST default").startsWith("http://127.0.0.1:");
    try (Response r = post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}")) {
      assertThat(r.code()).isEqualTo(200);
      assertThat(r.body().string()).isEqualTo("{\"id\":\"ok\"}");
      assertThat(r.header("X-Request-Id")).isNotBlank();
    }
    assertThat(upstream.takeRequest().getHeaders().get("Authorization")).isEqualTo("Bearer sk-from-dotenv");
    try (Response r = get("/health")) {
      assertThat(r.code()).isEqualTo(200);
      assertThat(r.body().string()).contains("\"max_concurrent\":3");
    }
    try (Response r = get("/unknown")) {
      assertThat(r.code()).isEqualTo(404);
      assertThat(r.body().string()).contains("\"code\":\"not_found\"");
    }
  }

  @Test
  void refusesANonLoopbackBindWithAnUpstreamKeyAndNoProxyKeys() {
    assertThatThrownBy(() -> RelayMain.start(env("UPSTREAM_API_KEY", "sk-secret-key", "RELAY_HOST", "0.0.0.0"), null, false))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("RELAY_API_KEYS")
        .hasMessageNotContaining("sk-secret-key");
  }

  @Test
  void aNonLoopbackBindIsAllowedWithProxyKeysOrWithoutAnUpstreamKey() {
    RelayConfig withKey = RelayConfig.builder().upstreamApiKey("sk").build();
    RelayMain.checkSafeBind(withKey, new LauncherSettings("0.0.0.0", 0, List.of("k"), Duration.ZERO));
    RelayMain.checkSafeBind(RelayConfig.builder().build(), new LauncherSettings("0.0.0.0", 0, List.of(), Duration.ZERO));
    RelayMain.checkSafeBind(withKey, new LauncherSettings("localhost", 0, List.of(), Duration.ZERO));
  }

  @Test
  void anInvalidVariableStopsStartUpNamingIt() {
    assertThatThrownBy(() -> RelayMain.start(env("MAX_ATTEMPTS", "zero"), null, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("MAX_ATTEMPTS");
    assertThatThrownBy(() -> RelayMain.start(env("SHUTDOWN_TIMEOUT_SECONDS", "-1"), null, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("SHUTDOWN_TIMEOUT_SECONDS");
  }

  @Test
  void aTakenPortFailsStartUpClearly() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      assertThatThrownBy(() -> RelayMain.start(env("RELAY_PORT", String.valueOf(taken.getLocalPort())), null, false))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("cannot listen on 127.0.0.1:" + taken.getLocalPort());
    }
  }

  @Test
  void stopLetsAnInFlightStreamFinishThenRefusesConnections() throws Exception {
    CountDownLatch streaming = new CountDownLatch(1);
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(new SlowStream(streaming, 10, 100)).build());
    relay = RelayMain.start(env("SHUTDOWN_TIMEOUT_SECONDS", "10"), null, false);
    leaks.track(relay.client());
    int port = relay.port();

    CompletableFuture<String> body = CompletableFuture.supplyAsync(() -> {
      try (Response r = post("/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}")) {
        return r.body().string();
      } catch (IOException e) {
        return "failed: " + e;
      }
    });
    assertThat(streaming.await(5, TimeUnit.SECONDS)).isTrue();

    long start = System.nanoTime();
    relay.close();
    long stopMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(body.get(5, TimeUnit.SECONDS)).as("the stream finished whole").endsWith("data: [DONE]\n\n").contains("\"n\":9");
    assertThat(stopMs).as("stop waited for the stream, not for the timeout").isBetween(300L, 8000L);
    assertThat(relay.client().stats().inFlight()).isZero();
    assertThatThrownBy(() -> new java.net.Socket("127.0.0.1", port).close()).isInstanceOf(ConnectException.class);
    relay = null;
  }

  @Test
  void stopCutsStreamsThatOutliveTheShutdownTimeout() throws Exception {
    CountDownLatch streaming = new CountDownLatch(1);
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(new SlowStream(streaming, 100, 100)).build());
    relay = RelayMain.start(env("SHUTDOWN_TIMEOUT_SECONDS", "0.3"), null, false);
    leaks.track(relay.client());

    CompletableFuture<String> body = CompletableFuture.supplyAsync(() -> {
      try (Response r = post("/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}")) {
        return r.body().string();
      } catch (IOException e) {
        return "failed: " + e;
      }
    });
    assertThat(streaming.await(5, TimeUnit.SECONDS)).isTrue();

    long start = System.nanoTime();
    relay.close();

    assertThat((System.nanoTime() - start) / 1_000_000).as("bounded by the shutdown timeout").isLessThan(5000);
    assertThat(body.get(5, TimeUnit.SECONDS)).as("a cut stream never ends like a complete one").doesNotContain("[DONE]");
    assertThat(relay.client().stats().inFlight()).isZero();
    relay = null;
  }

  @Test
  void simulateRunsWithNoKeyAndNoNetwork() throws Exception {
    relay = RelayMain.start(env("UPSTREAM_BASE_URL", "simulate", "SIM_LATENCY_MS", "10"), null, false);
    leaks.track(relay.client());

    Request chat = new Request.Builder().url(relay.url() + "/v1/chat/completions").header("X-Sim-Fault", "none")
        .post(RequestBody.create("{\"model\":\"demo\",\"messages\":[]}", MediaType.get("application/json"))).build();
    try (Response r = http.newCall(chat).execute()) {
      assertThat(r.code()).isEqualTo(200);
      assertThat(r.body().string()).contains("\"model\":\"demo\"");
    }
    try (Response r = get("/health/upstream")) {
      assertThat(r.code()).isEqualTo(200);
      assertThat(r.body().string()).contains("\"upstream\":\"reachable\"");
    }
    assertThat(relay.config().upstreamBaseUrl().getHost()).isEqualTo("127.0.0.1");
  }

  /** Streams {@code events} events {@code gapMillis} apart, then [DONE]. */
  private static final class SlowStream implements MockResponseBody {
    private final CountDownLatch started;
    private final int events;
    private final long gapMillis;

    SlowStream(CountDownLatch started, int events, long gapMillis) {
      this.started = started;
      this.events = events;
      this.gapMillis = gapMillis;
    }

    @Override
    public long getContentLength() {
      return -1;
    }

    @Override
    public void writeTo(BufferedSink sink) throws IOException {
      for (int i = 0; i < events; i++) {
        sink.writeUtf8("data: {\"n\":" + i + ",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n").flush();
        started.countDown();
        try {
          Thread.sleep(gapMillis);
        } catch (InterruptedException e) {
          throw new IOException(e);
        }
      }
      sink.writeUtf8("data: [DONE]\n\n").flush();
    }
  }
}
