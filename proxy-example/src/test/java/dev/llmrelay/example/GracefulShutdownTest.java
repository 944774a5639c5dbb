package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockResponseBody;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import okio.BufferedSink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, defect 3: shutdown ({@link RunningRelay#close()}, which the SIGTERM hook calls) stops
 * accepting, lets in-flight requests run for {@code SHUTDOWN_TIMEOUT_SECONDS}, then closes the
 * upstream client while the client connections are still open, so that a request that has not
 * started its answer gets 503 {@code relay_closed} and a stream under way gets the in-band error
 * event (and no {@code [DONE]}); only then are the connections closed.
 *
 * <p>CI runs this on Java 17 (platform threads). On Java 21+ the launcher runs servlet code on
 * virtual threads and the exchange on the request's own thread, so run it on JDK 25 too:
 * {@code JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 mvn -B -ntp -pl proxy-example -am test
 * -Dtest=GracefulShutdownTest -Dsurefire.failIfNoSpecifiedTests=false}.
 */
class GracefulShutdownTest {
  private static final String CHAT = "{\"model\":\"m\",\"messages\":[]}";
  private static final String STREAM_CHAT = "{\"model\":\"m\",\"stream\":true,\"messages\":[]}";

  @StartStop public final MockWebServer upstream = new MockWebServer();
  @TempDir Path dir;
  /** Checks the upstream client of every relay a test starts: after its shutdown, nothing is left. */
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  /** One thread per blocking client (the common pool may have a single thread on a small machine). */
  private final ExecutorService clients = Executors.newCachedThreadPool();
  private RunningRelay relay;

  @AfterEach
  void stop() {
    if (relay != null) {
      relay.close();
    }
    clients.shutdownNow();
  }

  private Map<String, String> env(String baseUrl, String... pairs) {
    Map<String, String> env = new HashMap<>();
    env.put("RELAY_PORT", "0");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("MAX_CONCURRENT_REQUESTS", "2");
    env.put("UPSTREAM_BASE_URL", baseUrl);
    for (int i = 0; i < pairs.length; i += 2) {
      env.put(pairs[i], pairs[i + 1]);
    }
    return env;
  }

  private CompletableFuture<RawHttp.Response> send(String request) {
    int port = relay.port();
    return CompletableFuture.supplyAsync(() -> {
      try {
        return RawHttp.exchange(port, request);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }, clients);
  }

  @Test
  void aRequestStillWaitingForUpstreamHeadersGets503RelayClosedWhenTheShutdownTimeoutRunsOut() throws Exception {
    try (SilentUpstream silent = new SilentUpstream()) {
      // Given a request the upstream never answers
      relay = RelayMain.start(env(silent.baseUrl(), "SHUTDOWN_TIMEOUT_SECONDS", "0.5", "MAX_ATTEMPTS", "1"), dir.resolve(".env"), false);
      leaks.track(relay.client());
      CompletableFuture<RawHttp.Response> answer =
          send(RawHttp.post("/v1/chat/completions", CHAT, "X-Request-Id: waiting-1"));
      assertThat(silent.firstRequest.await(5, TimeUnit.SECONDS)).as("the request reached the upstream").isTrue();

      // When the relay shuts down
      long start = System.nanoTime();
      relay.close();
      long closeMillis = (System.nanoTime() - start) / 1_000_000;

      // Then the client got the relay's own 503, not an empty 200 or a dropped connection
      RawHttp.Response r = answer.get(10, TimeUnit.SECONDS);
      assertThat(r.status()).as(r.statusLine() + " " + r.body()).isEqualTo(503);
      assertThat(r.header("Content-Type")).startsWith("application/json");
      assertThat(r.body())
          .contains("\"code\":\"relay_closed\"")
          .contains("\"type\":\"proxy_error\"")
          .contains("\"param\":null");
      assertThat(r.header("X-Request-Id")).isEqualTo("waiting-1");
      assertThat(closeMillis).as("waited the shutdown timeout, then aborted").isBetween(400L, 8000L);
      assertThat(silent.requests()).as("one upstream request, no retry").isEqualTo(1);
      assertThat(relay.client().stats().inFlight()).isZero();
      assertThat(relay.client().stats().permitsAvailable()).as("the permit came back once").isEqualTo(2);
      relay = null;
    }
  }

  @Test
  void aStreamUnderWayEndsWithTheInBandErrorEventAndNoDoneWhenTheShutdownTimeoutRunsOut() throws Exception {
    // Given a stream that would run for 10 s
    CountDownLatch streaming = new CountDownLatch(1);
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(new SlowStream(streaming, 100, 100)).build());
    relay = RelayMain.start(env(upstream.url("/v1").toString(), "SHUTDOWN_TIMEOUT_SECONDS", "0.5"), dir.resolve(".env"), false);
    leaks.track(relay.client());
    CompletableFuture<RawHttp.Response> answer = send(RawHttp.post("/v1/chat/completions", STREAM_CHAT));
    assertThat(streaming.await(5, TimeUnit.SECONDS)).isTrue();

    // When the relay shuts down
    relay.close();

    // Then the stream ends with the in-band error event, never like a complete answer
    RawHttp.Response r = answer.get(10, TimeUnit.SECONDS);
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).contains("data: {\"n\":0,").doesNotContain("[DONE]");
    String[] events = r.body().trim().split("\n\n");
    String last = events[events.length - 1];
    assertThat(last).as("the final event")
        .startsWith("data: {")
        .contains("\"finish_reason\":\"error\"")
        .contains("\"error\":{")
        .contains("\"code\":\"upstream_stream_interrupted\"");
    assertThat(relay.client().stats().inFlight()).isZero();
    assertThat(relay.client().stats().permitsAvailable()).isEqualTo(2);
    assertThat(relay.client().stats().midStreamFailures()).isEqualTo(1);
    relay = null;
  }

  @Test
  void shutdownStopsAcceptingAtOnceWhileAnInFlightStreamFinishesWhole() throws Exception {
    // Given a stream of about 2 s
    CountDownLatch streaming = new CountDownLatch(1);
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(new SlowStream(streaming, 10, 200)).build());
    relay = RelayMain.start(env(upstream.url("/v1").toString(), "SHUTDOWN_TIMEOUT_SECONDS", "20"), dir.resolve(".env"), false);
    leaks.track(relay.client());
    int port = relay.port();
    CompletableFuture<RawHttp.Response> answer = send(RawHttp.post("/v1/chat/completions", STREAM_CHAT));
    assertThat(streaming.await(5, TimeUnit.SECONDS)).isTrue();

    // When the relay shuts down
    RunningRelay closing = relay;
    CompletableFuture<Void> closed = CompletableFuture.runAsync(closing::close, clients);

    // Then new connections are refused while the stream still runs, and the stream ends whole
    await().atMost(Duration.ofSeconds(1)).until(() -> refusesConnections(port));
    assertThat(answer).as("the stream is still running").isNotDone();
    RawHttp.Response r = answer.get(10, TimeUnit.SECONDS);
    assertThat(r.body()).contains("\"n\":9").endsWith("data: [DONE]\n\n");
    closed.get(10, TimeUnit.SECONDS);
    assertThat(closing.client().stats().permitsAvailable()).isEqualTo(2);
    relay = null;
  }

  @Test
  void inFlightRequestsQuietForLongerThanASecondStillFinishWithinTheShutdownTimeout() throws Exception {
    // Given a non-streamed answer whose headers take 2.5 s and a stream with 1.5 s pauses
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .headersDelay(2500, TimeUnit.MILLISECONDS).body("{\"id\":\"slow\"}").build());
    CountDownLatch streaming = new CountDownLatch(1);
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(new SlowStream(streaming, 3, 1500)).build());
    relay = RelayMain.start(env(upstream.url("/v1").toString(), "SHUTDOWN_TIMEOUT_SECONDS", "20"), dir.resolve(".env"), false);
    leaks.track(relay.client());
    CompletableFuture<RawHttp.Response> slowJson = send(RawHttp.post("/v1/chat/completions", CHAT));
    await().atMost(Duration.ofSeconds(5)).until(() -> upstream.getRequestCount() == 1);
    CompletableFuture<RawHttp.Response> pausingStream = send(RawHttp.post("/v1/chat/completions", STREAM_CHAT));
    assertThat(streaming.await(5, TimeUnit.SECONDS)).isTrue();

    // When the relay shuts down
    long start = System.nanoTime();
    relay.close();
    long closeMillis = (System.nanoTime() - start) / 1_000_000;

    // Then both finished whole: a quiet connection is not an idle one during the drain
    RawHttp.Response json = slowJson.get(10, TimeUnit.SECONDS);
    assertThat(json.status()).isEqualTo(200);
    assertThat(json.body()).isEqualTo("{\"id\":\"slow\"}");
    assertThat(pausingStream.get(10, TimeUnit.SECONDS).body()).contains("\"n\":2").endsWith("data: [DONE]\n\n");
    assertThat(closeMillis).as("waited for them, not for the 20 s timeout").isBetween(1500L, 15000L);
    assertThat(relay.client().stats().permitsAvailable()).isEqualTo(2);
    relay = null;
  }

  @Test
  void aNewRequestOnAKeptAliveConnectionDuringShutdownGetsJson503RelayClosed() throws Exception {
    // Given a stream that keeps the relay draining, and a kept-alive connection that served one request
    CountDownLatch streaming = new CountDownLatch(1);
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(new SlowStream(streaming, 20, 100)).build());
    relay = RelayMain.start(env(upstream.url("/v1").toString(), "SHUTDOWN_TIMEOUT_SECONDS", "20"), dir.resolve(".env"), false);
    leaks.track(relay.client());
    int port = relay.port();
    CompletableFuture<RawHttp.Response> stream = send(RawHttp.post("/v1/chat/completions", STREAM_CHAT));
    assertThat(streaming.await(5, TimeUnit.SECONDS)).isTrue();
    try (Socket keptAlive = new Socket(InetAddress.getLoopbackAddress(), port)) {
      keptAlive.setSoTimeout(10_000);
      keptAlive.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(RawHttp.read(keptAlive.getInputStream()).status()).isEqualTo(200);

      // When the relay starts shutting down and the client sends its next request
      RunningRelay closing = relay;
      CompletableFuture<Void> closed = CompletableFuture.runAsync(closing::close, clients);
      await().atMost(Duration.ofSeconds(1)).until(() -> refusesConnections(port));
      keptAlive.getOutputStream().write(
          "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: late-1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));

      // Then it is refused in the relay's words, and the stream under way still ends whole
      RawHttp.Response late = RawHttp.read(keptAlive.getInputStream());
      assertThat(late.status()).isEqualTo(503);
      assertThat(late.header("Content-Type")).startsWith("application/json");
      assertThat(late.body()).contains("\"code\":\"relay_closed\"");
      assertThat(late.header("Retry-After")).isEqualTo("1");
      assertThat(late.header("X-Request-Id")).isEqualTo("late-1");
      assertThat(stream.get(10, TimeUnit.SECONDS).body()).endsWith("data: [DONE]\n\n");
      closed.get(10, TimeUnit.SECONDS);
    }
    relay = null;
  }

  private static boolean refusesConnections(int port) {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      return false;
    } catch (ConnectException e) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Streams {@code events} events {@code gapMillis} apart, then [DONE]. */
  static final class SlowStream implements MockResponseBody {
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
