package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.Outcome;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.BufferedSink;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 11, defects 8 and 9: how the relay reads client request bodies, in Jetty 12 and Tomcat 11
 * over real sockets. A body that ends before its {@code Content-Length} gets 400 {@code
 * incomplete_body}, a body that stalls longer than {@code CLIENT_BODY_TIMEOUT_SECONDS} gets 408
 * {@code request_body_timeout} and a closed connection, a client that vanishes mid-body costs
 * nothing; none of them reaches the upstream and every one is counted like any other request. And
 * bodies are read without holding a container thread, so clients that trickle their uploads cannot
 * starve {@code /health} and chat on a small platform thread pool (Java 17).
 */
class ClientBodyReadingTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final byte[] CHAT = Upstreams.CHAT_REQUEST.getBytes(StandardCharsets.UTF_8);

  @TempDir Path tomcatDir;
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private MockWebServer upstream;
  private UpstreamClient client;
  private AutoCloseable server;
  private int port;
  private final List<ExchangeResult> finished = new CopyOnWriteArrayList<>();
  private final List<Socket> sockets = new ArrayList<>();
  private final OkHttpClient http = TestHttp.client();

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = Upstreams.start();
  }

  @AfterEach
  void stopAll() throws Exception {
    try {
      for (Socket socket : sockets) {
        socket.close();
      }
      TestHttp.close(http);
      if (server != null) {
        server.close();
      }
    } finally {
      upstream.close();
    }
  }

  /** Starts a client (test configuration changed by {@code config}) and mounts it in {@code container}. */
  private void start(String container, UnaryOperator<RelayConfig.Builder> config) throws Exception {
    client = leaks.track(UpstreamClient.builder(config.apply(Upstreams.config(upstream)).build()).listener(finished::add).build());
    UpstreamClient c = client;
    if (container.equals("jetty")) {
      JettyRelay jetty = JettyRelay.mount(c);
      server = jetty;
      port = jetty.port();
    } else {
      TomcatRelay tomcat =
          TomcatRelay.start(tomcatDir, context ->
              context.addServletContainerInitializer((classes, servletContext) -> LlmRelayServlets.mount(servletContext, c), null));
      server = tomcat;
      port = tomcat.port();
    }
  }

  private Socket connect(int readTimeoutMillis) throws IOException {
    Socket socket = RawHttp.connect(port, readTimeoutMillis);
    sockets.add(socket);
    return socket;
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"jetty", "tomcat"})
  void bodyThatEndsBeforeItsContentLengthGets400IncompleteBodyAndNeverReachesTheUpstream(String container)
      throws Exception {
    start(container, c -> c);
    // Given a client that declares 100 bytes more than it sends, then half-closes
    Socket socket = connect(5000);
    RawHttp.sendHead(socket, "/v1/chat/completions", CHAT.length + 100);
    RawHttp.send(socket, CHAT);
    socket.shutdownOutput();

    // When the relay reads the body
    RawHttp.Response response = RawHttp.readResponse(socket);

    // Then it answers 400 incomplete_body (not an empty 200), calls no upstream and counts it.
    // Tomcat answers a failed read itself (sendError(400), after which it drops what the
    // application writes) and closes the connection: the client gets no response there, never a 200.
    if (container.equals("jetty")) {
      assertThat(response).as("a response, not a silent close").isNotNull();
    }
    if (response != null) {
      assertThat(response.status()).as("status").isEqualTo(400);
      JsonNode error = openAiError(response, "incomplete_body");
      assertThat(error.path("message").asText()).as("message").contains("Content-Length");
    }
    assertRejectionCounted(400, "incomplete_body");
    assertThat(upstream.getRequestCount()).as("upstream requests").isZero();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"jetty", "tomcat"})
  void bodyThatStallsLongerThanTheClientBodyTimeoutGets408AndAClosedConnection(String container) throws Exception {
    start(container, c -> c.clientBodyTimeout(Duration.ofMillis(500)));
    // Given a client that sends half its body and then nothing
    Socket socket = connect(10_000);
    RawHttp.sendHead(socket, "/v1/chat/completions", CHAT.length);
    RawHttp.send(socket, java.util.Arrays.copyOf(CHAT, CHAT.length / 2));
    long sent = System.nanoTime();

    // When the body timeout passes
    RawHttp.Response response = RawHttp.readResponse(socket);
    long waitedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent);

    // Then the relay answers 408 request_body_timeout, closes the connection and calls no upstream
    assertThat(response).as("a response").isNotNull();
    assertThat(response.status()).as("status").isEqualTo(408);
    openAiError(response, "request_body_timeout");
    assertThat(response.closedAfter()).as("connection closed after the 408").isTrue();
    assertThat(waitedMillis).as("time from the last byte to the 408").isBetween(400L, 3000L);
    assertRejectionCounted(408, "request_body_timeout");
    assertThat(upstream.getRequestCount()).as("upstream requests").isZero();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"jetty", "tomcat"})
  void bodyThatKeepsArrivingWithinTheClientBodyTimeoutIsRelayed(String container) throws Exception {
    start(container, c -> c.clientBodyTimeout(Duration.ofMillis(500)));
    upstream.enqueue(Upstreams.chatJson());
    // Given a client whose body arrives in three parts, 300 ms apart (1 s in all, each gap < 500 ms)
    Socket socket = connect(5000);
    RawHttp.sendHead(socket, "/v1/chat/completions", CHAT.length);
    int third = CHAT.length / 3;
    RawHttp.send(socket, java.util.Arrays.copyOfRange(CHAT, 0, third));
    ScheduledExecutorService sender = Executors.newSingleThreadScheduledExecutor();
    try {
      sender.schedule(() -> sendQuietly(socket, java.util.Arrays.copyOfRange(CHAT, third, 2 * third)), 300, TimeUnit.MILLISECONDS);
      sender.schedule(() -> sendQuietly(socket, java.util.Arrays.copyOfRange(CHAT, 2 * third, CHAT.length)), 600, TimeUnit.MILLISECONDS);

      // Then the deadline bounds the gaps, not the whole upload
      RawHttp.Response response = RawHttp.readResponse(socket);
      assertThat(response.status()).as("status").isEqualTo(200);
      assertThat(response.body()).as("body").isEqualTo(Upstreams.CHAT_JSON);
    } finally {
      sender.shutdownNow();
    }
    assertThat(upstream.takeRequest(1, TimeUnit.SECONDS).getBody().utf8()).as("upstream body").isEqualTo(Upstreams.CHAT_REQUEST);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"jetty", "tomcat"})
  void clientThatExpects100ContinueGetsItBeforeSendingItsBody(String container) throws Exception {
    start(container, c -> c);
    upstream.enqueue(Upstreams.chatJson());
    // Given a client that waits for 100 Continue before its body (curl does, for large bodies)
    Socket socket = connect(3000);
    RawHttp.send(
        socket,
        ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Expect: 100-continue\r\nContent-Length: " + CHAT.length + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));

    // Then the relay, reading without blocking, still asks for the body
    RawHttp.Response interim = RawHttp.readResponse(socket);
    assertThat(interim.status()).as("interim status").isEqualTo(100);
    RawHttp.send(socket, CHAT);
    RawHttp.Response response = RawHttp.readResponse(socket);
    assertThat(response.status()).as("status").isEqualTo(200);
    assertThat(response.body()).as("body").isEqualTo(Upstreams.CHAT_JSON);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"jetty", "tomcat"})
  void clientThatVanishesMidBodyCostsNoPermitAndNoUpstreamCall(String container) throws Exception {
    start(container, c -> c);
    // Given a client that sends half its body and then resets the connection
    Socket socket = connect(5000);
    RawHttp.sendHead(socket, "/v1/chat/completions", CHAT.length);
    RawHttp.send(socket, java.util.Arrays.copyOf(CHAT, CHAT.length / 2));
    Thread.sleep(300); // the client's own pause before it gives up (not a wait for async state)
    socket.setSoLinger(true, 0);
    socket.close();

    // Then the request is counted, took no permit and never reached the upstream
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(() -> assertThat(finished).as("finished requests").hasSize(1));
    assertThat(finished.get(0).outcome()).as("outcome").isEqualTo(Outcome.REJECTED);
    assertThat(upstream.getRequestCount()).as("upstream requests").isZero();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"jetty", "tomcat"})
  void largeBodiesArriveWholeAtTheUpstreamWithAndWithoutContentLength(String container) throws Exception {
    start(container, c -> c);
    String big = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(3 * 1024 * 1024) + "\"}]}";
    for (boolean chunked : new boolean[] {false, true}) {
      upstream.enqueue(Upstreams.chatJson());
      try (Response response =
          http.newCall(new Request.Builder().url("http://127.0.0.1:" + port + "/v1/chat/completions").post(body(big, chunked)).build())
              .execute()) {
        assertThat(response.code()).as("status, chunked=" + chunked).isEqualTo(200);
        assertThat(response.body().string()).as("body").isEqualTo(Upstreams.CHAT_JSON);
      }
      RecordedRequest recorded = upstream.takeRequest(2, TimeUnit.SECONDS);
      assertThat(recorded.getBody().utf8()).as("the body the upstream got, chunked=" + chunked).isEqualTo(big);
    }
  }

  @Test
  void tricklingUploadsLeaveHealthAndChatFastOnASmallPlatformThreadPool() throws Exception {
    // Given Jetty on a small platform thread pool, as the launcher runs on Java 17
    client = leaks.track(UpstreamClient.builder(Upstreams.config(upstream).build()).listener(finished::add).build());
    UpstreamClient c = client;
    QueuedThreadPool threads = new QueuedThreadPool(16, 4);
    JettyRelay jetty = JettyRelay.start(threads, context -> LlmRelayServlets.mount(context.getServletContext(), c));
    server = jetty;
    port = jetty.port();

    // And 80 clients that trickle their chat bodies, one byte every 300 ms each
    int clients = 80;
    for (int i = 0; i < clients; i++) {
      RawHttp.sendHead(connect(5000), "/v1/chat/completions", CHAT.length);
    }
    AtomicInteger rounds = new AtomicInteger();
    ScheduledExecutorService trickler = Executors.newSingleThreadScheduledExecutor();
    trickler.scheduleWithFixedDelay(
        () -> {
          int next = rounds.get();
          if (next < CHAT.length - 1) { // never the last byte: the bodies stay incomplete
            for (Socket socket : sockets) {
              sendQuietly(socket, new byte[] {CHAT[next]});
            }
            rounds.incrementAndGet();
          }
        },
        0,
        300,
        TimeUnit.MILLISECONDS);
    OkHttpClient impatient = http.newBuilder().callTimeout(Duration.ofSeconds(5)).build();
    try {
      await().atMost(Duration.ofSeconds(5)).until(() -> rounds.get() >= 3);

      // When /health and a normal chat request come in while they trickle
      long t0 = System.nanoTime();
      try (Response health = impatient.newCall(new Request.Builder().url(jetty.url("/health")).build()).execute()) {
        assertThat(health.code()).as("health status").isEqualTo(200);
      }
      long healthMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      upstream.enqueue(Upstreams.chatJson());
      long t1 = System.nanoTime();
      try (Response chat =
          impatient
              .newCall(new Request.Builder().url(jetty.url("/v1/chat/completions")).post(TestHttp.json(Upstreams.CHAT_REQUEST)).build())
              .execute()) {
        assertThat(chat.code()).as("chat status").isEqualTo(200);
        assertThat(chat.body().string()).as("chat body").isEqualTo(Upstreams.CHAT_JSON);
      }
      long chatMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1);

      // Then both answer quickly, while every trickling body is still being read
      assertThat(healthMillis).as("GET /health while %d uploads trickle", clients).isLessThan(2000);
      assertThat(chatMillis).as("chat while %d uploads trickle", clients).isLessThan(2000);
      assertThat(rounds.get()).as("bytes trickled so far").isLessThan(CHAT.length - 1);
      await() // the request log hears of the chat just after its client got the response
          .atMost(Duration.ofSeconds(2))
          .untilAsserted(() -> assertThat(finished).as("requests finished while trickling: only the chat").hasSize(1));
    } finally {
      trickler.shutdownNow();
      trickler.awaitTermination(5, TimeUnit.SECONDS);
      TestHttp.close(impatient);
    }

    // And when the trickling clients give up, each is counted and none reached the upstream
    for (Socket socket : sockets) {
      socket.close();
    }
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(finished).as("finished requests").hasSize(clients + 1));
    assertThat(finished.stream().filter(r -> r.outcome() == Outcome.REJECTED).count())
        .as("trickling clients counted as rejected")
        .isEqualTo(clients);
    assertThat(upstream.getRequestCount()).as("upstream requests: the one chat").isEqualTo(1);
  }

  @Test
  void clientBodyTimeoutIsReadFromTheEnvironmentInSecondsWithDecimals() {
    assertThat(RelayConfig.fromEnvironment(Map.of()).clientBodyTimeout()).as("default").isEqualTo(Duration.ofSeconds(60));
    assertThat(RelayConfig.fromEnvironment(Map.of("CLIENT_BODY_TIMEOUT_SECONDS", "2.5")).clientBodyTimeout())
        .as("decimals")
        .isEqualTo(Duration.ofMillis(2500));
    assertThat(RelayConfig.fromEnvironment(Map.of("CLIENT_BODY_TIMEOUT_SECONDS", "0")).clientBodyTimeout())
        .as("0 = no deadline")
        .isZero();
    assertThatThrownBy(() -> RelayConfig.fromEnvironment(Map.of("CLIENT_BODY_TIMEOUT_SECONDS", "soon")))
        .as("an invalid value names the variable")
        .hasMessageContaining("CLIENT_BODY_TIMEOUT_SECONDS");
  }

  /** Sends from a client thread; a failure shows in the assertions on the response. */
  private static void sendQuietly(Socket socket, byte[] bytes) {
    try {
      RawHttp.send(socket, bytes);
    } catch (IOException e) {
      // the connection is gone: the test's assertions on the response say what happened
    }
  }

  private JsonNode openAiError(RawHttp.Response response, String code) throws IOException {
    assertThat(response.header("Content-Type")).as("content type").startsWith("application/json");
    JsonNode error = MAPPER.readTree(response.body()).path("error");
    assertThat(error.path("code").asText()).as("error code in " + response.body()).isEqualTo(code);
    assertThat(error.path("type").asText()).as("error type").isEqualTo("proxy_error");
    assertThat(error.has("param")).as("param field present").isTrue();
    assertThat(response.header("X-Request-Id")).as("request id").isNotBlank();
    return error;
  }

  private void assertRejectionCounted(int status, String code) {
    await()
        .atMost(Duration.ofSeconds(2))
        .untilAsserted(() -> assertThat(finished).as("finished requests").hasSize(1));
    ExchangeResult result = finished.get(0);
    assertThat(result.outcome()).as("outcome").isEqualTo(Outcome.REJECTED);
    assertThat(result.status()).as("status in the request log").isEqualTo(status);
    assertThat(result.errorCode()).as("code in the request log").isEqualTo(code);
    assertThat(result.path()).as("path in the request log").isEqualTo("/v1/chat/completions");
    assertThat(client.stats().rejected()).as("rejected counter").isEqualTo(1);
  }

  private static RequestBody body(String text, boolean chunked) {
    if (!chunked) {
      return TestHttp.json(text);
    }
    return new RequestBody() {
      @Override
      public okhttp3.MediaType contentType() {
        return TestHttp.JSON;
      }

      @Override
      public long contentLength() {
        return -1;
      }

      @Override
      public void writeTo(BufferedSink sink) throws IOException {
        sink.writeUtf8(text);
      }
    };
  }
}
