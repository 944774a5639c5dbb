package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.RelayStats;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, defect 4: a client that closes its connection before its response starts (while its
 * request waits for a permit, sleeps in a backoff or waits for the upstream's headers) is noticed
 * within about a second, its exchange is cancelled and its permit comes back. Every client here is
 * a raw socket that sends one HTTP/1.1 request and closes (FIN), as a client that gives up does.
 */
class ClientDisconnectBeforeResponseTest {
  /** "Within a second", with room for a loaded build machine. */
  private static final Duration NOTICED_WITHIN = Duration.ofMillis(1500);

  private static final int CONNECTIONS = 32;
  private static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @TempDir Path dir;
  /** Checks the upstream client of every relay a test starts, before the relay is closed. */
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private MockWebServer upstream;
  private RunningRelay relay;

  /**
   * Leak check: every client request, the vanished ones included, has completed in Jetty, so a
   * graceful stop does not wait for the shutdown timeout (5 s; an idle keep-alive connection
   * costs Jetty's 1 s shutdown idle timeout).
   */
  @AfterEach
  void stopPromptly() throws IOException {
    if (relay != null) {
      long stopping = System.nanoTime();
      relay.close();
      assertThat(millisSince(stopping)).as("graceful stop with nothing left in flight").isLessThan(3000);
    }
    if (upstream != null) {
      upstream.close();
    }
  }

  @Test
  void aQueuedClientThatClosesItsConnectionLeavesTheQueueAndNeverReachesTheUpstream() throws Exception {
    // Given: the only permit is held by a request the upstream answers when the test says so
    CountDownLatch releaseHolder = new CountDownLatch(1);
    upstream = new MockWebServer();
    upstream.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) throws InterruptedException {
        releaseHolder.await(20, TimeUnit.SECONDS);
        return json(200, "{\"id\":\"held\"}");
      }
    });
    upstream.start(InetAddress.getLoopbackAddress(), 0);
    relay = start(upstream.url("/v1").toString(), "MAX_CONCURRENT_REQUESTS", "1");
    CompletableFuture<HttpResponse<String>> holder = http.sendAsync(
        chatRequest("holder"), HttpResponse.BodyHandlers.ofString());
    await().atMost(Duration.ofSeconds(10)).until(() -> upstream.getRequestCount() == 1);

    // When: a second client queues for the permit, then gives up and closes its connection
    try (Socket client = rawChat("gone-while-queued")) {
      await().atMost(Duration.ofSeconds(5)).until(() -> stats().queued() == 1);
    }
    long closedAt = System.nanoTime();

    // Then: it leaves the queue at once, counted as a client disconnect while queued
    await().atMost(NOTICED_WITHIN).until(() -> stats().clientCancels() == 1);
    assertThat(millisSince(closedAt)).as("noticed within a second").isLessThan(NOTICED_WITHIN.toMillis());
    assertThat(stats().queued()).as("left the queue").isZero();
    assertThat(disconnects("queued")).as("counted as gone while queued").isEqualTo(1.0);

    // And when the permit frees, nobody is sent upstream for the client that left
    releaseHolder.countDown();
    assertThat(holder.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    await().atMost(Duration.ofSeconds(5)).until(() -> stats().inFlight() == 0);
    assertThat(upstream.getRequestCount()).as("upstream requests: the holder's only").isEqualTo(1);
    assertThat(stats().permitsAvailable()).as("the permit is back").isEqualTo(1);
  }

  @Test
  void aClientThatClosesDuringABackoffStopsTheRetries() throws Exception {
    // Given: an upstream that fails with 500, and a long backoff before the retry
    upstream = new MockWebServer();
    upstream.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        return json(500, "{\"error\":{\"message\":\"boom\"}}");
      }
    });
    upstream.start(InetAddress.getLoopbackAddress(), 0);
    relay = start(upstream.url("/v1").toString(),
        "MAX_ATTEMPTS", "3", "BACKOFF_INITIAL_MS", "5000", "BACKOFF_MAX_MS", "5000");

    // When: the client closes while the relay sleeps before attempt 2
    long closedAt;
    try (Socket client = rawChat("gone-in-backoff")) {
      await().atMost(Duration.ofSeconds(5)).until(() -> upstream.getRequestCount() == 1);
      // The client's own patience, not a wait for the relay: the 500 is answered at once, so 300 ms
      // later the relay is inside its 5 s backoff.
      Thread.sleep(300);
      closedAt = System.nanoTime();
    }

    // Then: the backoff is interrupted, no further attempt is made, the permit is back
    await().atMost(NOTICED_WITHIN).until(() -> stats().clientCancels() == 1);
    assertThat(millisSince(closedAt)).as("noticed within a second").isLessThan(NOTICED_WITHIN.toMillis());
    assertThat(disconnects("backoff")).as("counted as gone during the backoff").isEqualTo(1.0);
    await().atMost(Duration.ofSeconds(2)).until(() -> stats().inFlight() == 0);
    assertThat(stats().permitsAvailable()).as("the permit is back").isEqualTo(relay.config().maxConcurrentRequests());
    assertThat(upstream.getRequestCount()).as("upstream attempts").isEqualTo(1);
  }

  @Test
  void aClientThatClosesWhileTheUpstreamHeadersAreDueClosesTheUpstreamConnection() throws Exception {
    // Given: an upstream that reads the request and never answers
    try (ServerSocket silentUpstream = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      relay = start("http://127.0.0.1:" + silentUpstream.getLocalPort() + "/v1", "ATTEMPT_TIMEOUT_SECONDS", "30");
      try (Socket client = rawChat("gone-waiting-headers");
          Socket upstreamSide = silentUpstream.accept()) {
        upstreamSide.setSoTimeout(10_000);
        InputStream fromRelay = upstreamSide.getInputStream();
        readRequestHead(fromRelay);

        // When: the client closes its connection
        client.close();
        long closedAt = System.nanoTime();

        // Then: the relay closes the upstream connection (the upstream reads EOF) within a second
        CompletableFuture<Long> eofAt = CompletableFuture.supplyAsync(() -> readToEof(fromRelay));
        long eof = eofAt.get(5, TimeUnit.SECONDS);
        assertThat(TimeUnit.NANOSECONDS.toMillis(eof - closedAt))
            .as("upstream connection closed within a second of the client leaving")
            .isLessThan(NOTICED_WITHIN.toMillis());
      }
      await().atMost(Duration.ofSeconds(2)).until(() -> stats().clientCancels() == 1 && stats().inFlight() == 0);
      assertThat(disconnects("waiting_headers")).as("counted as gone waiting for headers").isEqualTo(1.0);
      assertThat(stats().permitsAvailable()).as("the permit is back").isEqualTo(relay.config().maxConcurrentRequests());
    }
  }

  @Test
  void aKeepAliveConnectionServesItsNextRequestAfterAWatchedOne() throws Exception {
    // Given: an upstream that answers every chat request
    upstream = new MockWebServer();
    upstream.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        return json(200, "{\"id\":\"" + request.getHeaders().get("X-Request-Id") + "\"}");
      }
    });
    upstream.start(InetAddress.getLoopbackAddress(), 0);
    relay = start(upstream.url("/v1").toString());

    // When: one connection sends a request, reads its answer, then sends the next one
    try (Socket client = rawChat("first")) {
      client.setSoTimeout(10_000);
      InputStream in = client.getInputStream();
      String first = readResponse(in);
      sendChat(client, "second");
      String second = readResponse(in);

      // Then: both are answered on the same connection; nobody counted as gone
      assertThat(first).as("first answer").startsWith("HTTP/1.1 200").endsWith("{\"id\":\"first\"}");
      assertThat(second).as("second answer, same connection").startsWith("HTTP/1.1 200").endsWith("{\"id\":\"second\"}");
    }
    assertThat(upstream.getRequestCount()).isEqualTo(2);
    assertThat(stats().clientCancels()).as("no client disconnect").isZero();
  }

  @Test
  void aRequestPipelinedBehindAWaitingOneIsNeitherLostNorMistakenForADisconnect() throws Exception {
    // Given: an upstream that holds the chat answer until the test says so
    CountDownLatch releaseChat = new CountDownLatch(1);
    upstream = new MockWebServer();
    upstream.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) throws InterruptedException {
        if (request.getTarget().endsWith("/models")) {
          return json(200, "{\"data\":[]}");
        }
        releaseChat.await(20, TimeUnit.SECONDS);
        return json(200, "{\"id\":\"chat\"}");
      }
    });
    upstream.start(InetAddress.getLoopbackAddress(), 0);
    relay = start(upstream.url("/v1").toString());

    try (Socket client = rawChat("chat")) {
      client.setSoTimeout(10_000);
      await().atMost(Duration.ofSeconds(5)).until(() -> upstream.getRequestCount() == 1);

      // When: the client pipelines a second request while the first waits for the upstream
      String models = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:" + relay.port() + "\r\n\r\n";
      client.getOutputStream().write(models.getBytes(StandardCharsets.US_ASCII));
      client.getOutputStream().flush();
      releaseChat.countDown();

      // Then: both are answered, in order, and the first was not cancelled
      InputStream in = client.getInputStream();
      assertThat(readResponse(in)).as("the chat answer").startsWith("HTTP/1.1 200").endsWith("{\"id\":\"chat\"}");
      assertThat(readResponse(in)).as("the pipelined answer").startsWith("HTTP/1.1 200").endsWith("{\"data\":[]}");
    }
    assertThat(upstream.getRequestCount()).isEqualTo(2);
    assertThat(stats().clientCancels()).as("no client disconnect").isZero();
  }

  // ---- helpers -----------------------------------------------------------------------------

  @Test
  void busyKeepAliveConnectionsAreNeverTakenForClientsThatLeft() throws Exception {
    // Given: a fast upstream and the launcher with room for every connection
    upstream = new MockWebServer();
    upstream.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        return json(200, "{\"id\":\"ok\"}");
      }
    });
    upstream.start(InetAddress.getLoopbackAddress(), 0);
    relay = start(upstream.url("/v1").toString(), "MAX_CONCURRENT_REQUESTS", "64");

    // When: 32 clients each send 60 requests back to back on their kept-alive connections (the
    // first version of the watch took some of them for closed ones under such load)
    java.util.List<CompletableFuture<Integer>> clients = new java.util.ArrayList<>();
    java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(CONNECTIONS);
    for (int c = 0; c < CONNECTIONS; c++) {
      int id = c;
      clients.add(CompletableFuture.supplyAsync(() -> {
        int ok = 0;
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), relay.port())) {
          socket.setSoTimeout(10_000);
          socket.setTcpNoDelay(true);
          OutputStream out = socket.getOutputStream();
          InputStream in = socket.getInputStream();
          for (int i = 0; i < 60; i++) {
            byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nX-Request-Id: busy-" + id + "-" + i
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n" + CHAT)
                .getBytes(StandardCharsets.UTF_8)); // one write, as a real client sends a small request
            out.flush();
            if (readResponseStatus(in) == 200) {
              ok++;
            }
          }
        } catch (IOException e) {
          return ok; // a connection the relay closed: counted short below
        }
        return ok;
      }, threads));
    }

    // Then: every request is answered on its own connection, and no disconnect is counted
    int answered = 0;
    try {
      for (CompletableFuture<Integer> c : clients) {
        answered += c.get(60, TimeUnit.SECONDS);
      }
    } finally {
      threads.shutdownNow();
    }
    assertThat(answered).as("every request answered 200 on its kept-alive connection").isEqualTo(CONNECTIONS * 60);
    assertThat(stats().clientCancels()).as("no live client taken for one that left").isZero();
  }

  /** Reads one HTTP/1.1 response with a Content-Length body and returns its status. */
  private static int readResponseStatus(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("connection closed by the relay");
      }
      head.append((char) b);
    }
    Matcher length = Pattern.compile("(?i)content-length:\\s*(\\d+)").matcher(head);
    int n = length.find() ? Integer.parseInt(length.group(1)) : 0;
    for (int i = 0; i < n; i++) {
      if (in.read() < 0) {
        throw new IOException("body cut short");
      }
    }
    return Integer.parseInt(head.substring(9, 12));
  }

  private RunningRelay start(String upstreamBaseUrl, String... pairs) throws Exception {
    Map<String, String> env = new HashMap<>();
    env.put("RELAY_PORT", "0");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("SHUTDOWN_TIMEOUT_SECONDS", "5");
    env.put("UPSTREAM_BASE_URL", upstreamBaseUrl);
    for (int i = 0; i < pairs.length; i += 2) {
      env.put(pairs[i], pairs[i + 1]);
    }
    RunningRelay started = RelayMain.start(env, dir.resolve(".env"), false);
    leaks.track(started.client());
    return started;
  }

  private HttpRequest chatRequest(String requestId) {
    return HttpRequest.newBuilder(URI.create(relay.url() + "/v1/chat/completions"))
        .header("Content-Type", "application/json")
        .header("X-Request-Id", requestId)
        .timeout(Duration.ofSeconds(20))
        .POST(HttpRequest.BodyPublishers.ofString(CHAT))
        .build();
  }

  /** Opens a connection to the relay and sends one complete chat request on it. */
  private Socket rawChat(String requestId) throws IOException {
    Socket socket = new Socket(InetAddress.getLoopbackAddress(), relay.port());
    sendChat(socket, requestId);
    return socket;
  }

  private void sendChat(Socket socket, String requestId) throws IOException {
    byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
    String head = "POST /v1/chat/completions HTTP/1.1\r\n"
        + "Host: 127.0.0.1:" + relay.port() + "\r\n"
        + "Content-Type: application/json\r\n"
        + "X-Request-Id: " + requestId + "\r\n"
        + "Content-Length: " + body.length + "\r\n\r\n";
    OutputStream out = socket.getOutputStream();
    out.write(head.getBytes(StandardCharsets.US_ASCII));
    out.write(body);
    out.flush();
  }

  /** Reads one response with a Content-Length body; returns its status line and body. */
  private static String readResponse(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("EOF inside the response head: " + head);
      }
      head.append((char) b);
    }
    Matcher length = Pattern.compile("(?im)^content-length: *(\\d+)").matcher(head);
    if (!length.find()) {
      throw new IOException("no Content-Length: " + head);
    }
    byte[] body = in.readNBytes(Integer.parseInt(length.group(1)));
    return head.substring(0, head.indexOf("\r\n")) + "\n" + new String(body, StandardCharsets.UTF_8);
  }

  private static void readRequestHead(InputStream in) throws IOException {
    int matched = 0;
    byte[] end = {'\r', '\n', '\r', '\n'};
    while (matched < end.length) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("EOF inside the request head");
      }
      matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
    }
  }

  /** Reads (and drops) what is left of the request until EOF or a reset; returns when it ended. */
  private static long readToEof(InputStream in) {
    byte[] buffer = new byte[4096];
    try {
      while (in.read(buffer) >= 0) {
        // the rest of the request body
      }
    } catch (IOException reset) {
      // a reset closes the connection as well as a FIN does
    }
    return System.nanoTime();
  }

  private static MockResponse json(int code, String body) {
    return new MockResponse.Builder().code(code).setHeader("Content-Type", "application/json").body(body).build();
  }

  private RelayStats stats() {
    return relay.client().stats();
  }

  private double disconnects(String phase) throws Exception {
    String text = http.send(HttpRequest.newBuilder(URI.create(relay.url() + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    Matcher m = Pattern.compile("(?m)^llmrelay_client_disconnects_total\\{[^}]*phase=\"" + phase + "\"[^}]*} (\\S+)$")
        .matcher(text);
    return m.find() ? Double.parseDouble(m.group(1)) : 0.0;
  }

  private static long millisSince(long nanos) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - nanos);
  }
}
