package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.Buffer;
import okio.BufferedSink;
import org.junit.jupiter.api.Test;

/** The relay servlet in a real Jetty 12 against a MockWebServer upstream: JSON requests. */
class RelayServletTest extends RelayTestBase {
  private static final ObjectMapper MAPPER = new ObjectMapper();


  private Response post(String path, String body) throws IOException {
    return http.newCall(new Request.Builder().url(relay.url(path)).post(TestHttp.json(body)).build()).execute();
  }

  private static JsonNode json(String body) throws IOException {
    return MAPPER.readTree(body);
  }

  @Test
  void aClosedClientAnswers503RelayClosedNotAnEmptySuccess() throws Exception {
    startRelay(c -> c);
    client.close(); // an embedder closed the client while the servlet still takes requests

    try (Response response = post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}")) {
      assertThat(response.code()).isEqualTo(503);
      JsonNode error = json(response.body().string()).path("error");
      assertThat(error.path("code").asText()).isEqualTo("relay_closed");
    }
    assertThat(upstream.getRequestCount()).isZero();
  }

  @Test
  void jsonCompletionPassesThroughByteIdenticalInBothDirections() throws Exception {
    startRelay(c -> c);
    // Given an upstream answer with unusual whitespace, escapes and non-ASCII text
    byte[] upstreamBody =
        ("{ \"id\" : \"chatcmpl-1\",\n  \"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                + "\"content\":\"Grüße \\u00e9 ✓ \\n\"},\"finish_reason\":\"stop\"}] ,\"x\":1.50e+2 }\n")
            .getBytes(StandardCharsets.UTF_8);
    upstream.enqueue(
        new MockResponse.Builder()
            .code(200)
            .setHeader("Content-Type", "application/json")
            .body(new Buffer().write(upstreamBody))
            .build());
    byte[] clientBody =
        "{\"model\":\"m\",  \"messages\":[{\"role\":\"user\",\"content\":\"Grüße ✓\"}],\"temperature\":0.70}"
            .getBytes(StandardCharsets.UTF_8);

    // When the client posts a chat completion with its own request id
    try (Response response =
        http.newCall(
                new Request.Builder()
                    .url(relay.url("/v1/chat/completions"))
                    .header("X-Request-Id", "client-req-42")
                    .post(RequestBody.create(clientBody, TestHttp.JSON))
                    .build())
            .execute()) {
      // Then it gets the upstream bytes unchanged, with the relay's headers
      assertThat(response.code()).as("status").isEqualTo(200);
      assertThat(response.body().bytes()).as("client response body").isEqualTo(upstreamBody);
      assertThat(response.header("Content-Type")).as("content type").isEqualTo("application/json");
      assertThat(response.header("X-Request-Id")).as("request id echoed").isEqualTo("client-req-42");
      assertThat(response.header("X-Relay-Attempts")).as("attempts header").isEqualTo("1");
    }
    // And the upstream got the client's bytes unchanged, at the allowlisted path
    RecordedRequest upstreamRequest = upstream.takeRequest(1, TimeUnit.SECONDS);
    assertThat(upstreamRequest.getMethod()).as("upstream method").isEqualTo("POST");
    assertThat(upstreamRequest.getTarget()).as("upstream path").isEqualTo("/v1/chat/completions");
    assertThat(upstreamRequest.getBody().toByteArray()).as("upstream request body").isEqualTo(clientBody);
    assertThat(upstreamRequest.getHeaders().get("X-Request-Id")).as("request id sent upstream").isEqualTo("client-req-42");
    assertThat(upstreamRequest.getHeaders().get("Content-Type")).as("upstream content type").startsWith("application/json");
  }

  @Test
  void completionsEmbeddingsAndModelsAreRelayedToTheirAllowlistedPaths() throws Exception {
    startRelay(c -> c);
    upstream.enqueue(Upstreams.chatJson());
    upstream.enqueue(new MockResponse.Builder().setHeader("Content-Type", "application/json").body("{\"data\":[]}").build());
    upstream.enqueue(new MockResponse.Builder().setHeader("Content-Type", "application/json").body("{\"object\":\"list\",\"data\":[]}").build());

    try (Response completions = post("/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\"}");
        Response embeddings = post("/v1/embeddings", "{\"model\":\"e\",\"input\":\"x\"}");
        Response models = http.newCall(new Request.Builder().url(relay.url("/v1/models")).build()).execute()) {
      assertThat(List.of(completions.code(), embeddings.code(), models.code())).as("statuses").containsOnly(200);
      assertThat(models.body().string()).as("models body").isEqualTo("{\"object\":\"list\",\"data\":[]}");
    }
    assertThat(upstream.takeRequest().getTarget()).as("completions path").isEqualTo("/v1/completions");
    assertThat(upstream.takeRequest().getTarget()).as("embeddings path").isEqualTo("/v1/embeddings");
    RecordedRequest models = upstream.takeRequest();
    assertThat(models.getMethod() + " " + models.getTarget()).as("models request").isEqualTo("GET /v1/models");
  }

  @Test
  void requestIdIsGeneratedWhenMissingOrUnsafeAndSentUpstream() throws Exception {
    startRelay(c -> c);
    upstream.enqueue(Upstreams.chatJson());
    upstream.enqueue(Upstreams.chatJson());

    String generated;
    try (Response response = post("/v1/chat/completions", Upstreams.CHAT_REQUEST)) {
      generated = response.header("X-Request-Id");
    }
    String unsafe = "x".repeat(129);
    String replaced;
    try (Response response =
        http.newCall(
                new Request.Builder()
                    .url(relay.url("/v1/chat/completions"))
                    .header("X-Request-Id", unsafe)
                    .post(TestHttp.json(Upstreams.CHAT_REQUEST))
                    .build())
            .execute()) {
      replaced = response.header("X-Request-Id");
    }

    assertThat(generated).as("generated id").matches("[0-9a-f-]{36}");
    assertThat(replaced).as("id replacing a 129-character one").matches("[0-9a-f-]{36}").isNotEqualTo(generated);
    assertThat(upstream.takeRequest().getHeaders().get("X-Request-Id")).as("first id upstream").isEqualTo(generated);
    assertThat(upstream.takeRequest().getHeaders().get("X-Request-Id")).as("second id upstream").isEqualTo(replaced);
  }

  @Test
  void hopByHopHeadersAreAbsentUpstreamAndDownstream() throws Exception {
    startRelay(c -> c);
    upstream.enqueue(
        new MockResponse.Builder()
            .code(200)
            .setHeader("Content-Type", "application/json")
            .setHeader("Connection", "X-Up-Hop")
            .setHeader("X-Up-Hop", "named-by-connection")
            .setHeader("Keep-Alive", "timeout=5")
            .setHeader("Proxy-Authenticate", "Basic realm=upstream")
            .setHeader("Upgrade", "foo/1")
            .setHeader("X-Up-End-To-End", "kept")
            .body(Upstreams.CHAT_JSON)
            .build());

    try (Response response =
        http.newCall(
                new Request.Builder()
                    .url(relay.url("/v1/chat/completions"))
                    .header("Connection", "keep-alive, X-Hop-Named")
                    .header("X-Hop-Named", "named-by-connection")
                    .header("Keep-Alive", "timeout=5")
                    .header("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0")
                    .header("TE", "trailers")
                    .header("Trailer", "X-Checksum")
                    .header("Cookie", "session=proxy-domain")
                    .header("X-Client-End-To-End", "kept")
                    .post(TestHttp.json(Upstreams.CHAT_REQUEST))
                    .build())
            .execute()) {
      assertThat(response.code()).as("status").isEqualTo(200);
      assertThat(response.header("X-Up-End-To-End")).as("end-to-end header downstream").isEqualTo("kept");
      assertThat(response.headers().names())
          .as("hop-by-hop headers downstream")
          .doesNotContain("X-Up-Hop", "x-up-hop", "Keep-Alive", "keep-alive", "Proxy-Authenticate", "proxy-authenticate", "Upgrade", "upgrade");
      assertThat(String.valueOf(response.header("Connection"))).as("Connection downstream").doesNotContainIgnoringCase("x-up-hop");
    }

    RecordedRequest upstreamRequest = upstream.takeRequest(1, TimeUnit.SECONDS);
    assertThat(upstreamRequest.getHeaders().get("X-Client-End-To-End")).as("end-to-end header upstream").isEqualTo("kept");
    for (String hop : List.of("X-Hop-Named", "Keep-Alive", "Proxy-Authorization", "TE", "Trailer", "Cookie")) {
      assertThat(upstreamRequest.getHeaders().get(hop)).as(hop + " upstream").isNull();
    }
    assertThat(String.valueOf(upstreamRequest.getHeaders().get("Connection")))
        .as("Connection upstream")
        .doesNotContainIgnoringCase("x-hop-named");
    assertThat(upstreamRequest.getHeaders().get("Host"))
        .as("Host upstream is the upstream's, not the relay's")
        .isEqualTo("127.0.0.1:" + upstream.getPort());
    assertThat(upstreamRequest.getHeaders().get("Content-Length"))
        .as("Content-Length upstream is the upstream leg's own")
        .isEqualTo(Integer.toString(Upstreams.CHAT_REQUEST.getBytes(StandardCharsets.UTF_8).length));
  }

  @Test
  void upstreamEndToEndHeadersReachTheClientUnchanged() throws Exception {
    startRelay(c -> c.maxAttempts(1));
    upstream.enqueue(
        new MockResponse.Builder()
            .code(429)
            .setHeader("Content-Type", "application/json")
            .setHeader("x-ratelimit-limit-requests", "60")
            .setHeader("x-ratelimit-remaining-requests", "0")
            .setHeader("x-ratelimit-reset-tokens", "6m0s")
            .setHeader("Retry-After", "120")
            .setHeader("X-Generation-Id", "gen-123")
            .setHeader("openai-processing-ms", "12")
            .body("{\"error\":{\"message\":\"Rate limited\",\"type\":\"rate_limit\",\"code\":\"rate_limited\"}}")
            .build());

    try (Response response = post("/v1/chat/completions", Upstreams.CHAT_REQUEST)) {
      assertThat(response.code()).as("status").isEqualTo(429);
      assertThat(response.header("x-ratelimit-limit-requests")).as("x-ratelimit-limit-requests").isEqualTo("60");
      assertThat(response.header("x-ratelimit-remaining-requests")).as("x-ratelimit-remaining-requests").isEqualTo("0");
      assertThat(response.header("x-ratelimit-reset-tokens")).as("x-ratelimit-reset-tokens").isEqualTo("6m0s");
      assertThat(response.header("Retry-After")).as("Retry-After").isEqualTo("120");
      assertThat(response.header("X-Generation-Id")).as("X-Generation-Id").isEqualTo("gen-123");
      assertThat(response.header("openai-processing-ms")).as("openai-processing-ms").isEqualTo("12");
      assertThat(json(response.body().string()).at("/error/code").asText()).as("upstream error body").isEqualTo("rate_limited");
    }
    assertThat(upstream.getRequestCount()).as("upstream requests").isEqualTo(1);
  }

  @Test
  void clientAuthorizationPassesThroughWithoutUpstreamKey() throws Exception {
    startRelay(c -> c);
    upstream.enqueue(Upstreams.chatJson());

    try (Response response =
        http.newCall(
                new Request.Builder()
                    .url(relay.url("/v1/chat/completions"))
                    .header("Authorization", "Bearer sk-client-own")
                    .post(TestHttp.json(Upstreams.CHAT_REQUEST))
                    .build())
            .execute()) {
      assertThat(response.code()).as("status").isEqualTo(200);
    }
    assertThat(upstream.takeRequest().getHeaders().get("Authorization"))
        .as("client Authorization upstream")
        .isEqualTo("Bearer sk-client-own");
  }

  @Test
  void proxyKeyIsNeverForwardedWhenRelayKeysAreConfigured() throws Exception {
    startRelay(c -> c, List.of("relay-key-1", "relay-key-2"));
    upstream.enqueue(Upstreams.chatJson());

    try (Response response =
        http.newCall(
                new Request.Builder()
                    .url(relay.url("/v1/chat/completions"))
                    .header("Authorization", "Bearer relay-key-2")
                    .post(TestHttp.json(Upstreams.CHAT_REQUEST))
                    .build())
            .execute()) {
      assertThat(response.code()).as("status with the second configured key").isEqualTo(200);
    }
    assertThat(upstream.takeRequest().getHeaders().get("Authorization")).as("Authorization upstream").isNull();
  }

  @Test
  void upstreamHtmlErrorReachesTheClientAsJsonError() throws Exception {
    startRelay(c -> c.maxAttempts(2));
    MockResponse cdnPage =
        new MockResponse.Builder()
            .code(502)
            .setHeader("Content-Type", "text/html")
            .body("<html><body><h1>502 Bad Gateway</h1>cloudflare</body></html>")
            .build();
    upstream.enqueue(cdnPage);
    upstream.enqueue(cdnPage);

    try (Response response = post("/v1/chat/completions", Upstreams.CHAT_REQUEST)) {
      assertThat(response.code()).as("status").isEqualTo(502);
      assertThat(response.header("Content-Type")).as("content type").startsWith("application/json");
      JsonNode error = json(response.body().string()).path("error");
      assertThat(error.path("code").asText()).as("error code").isEqualTo("upstream_error");
      assertThat(error.path("type").asText()).as("error type").isEqualTo("proxy_error");
      assertThat(error.path("message").asText()).as("message names the status").contains("502");
      assertThat(response.header("x-should-retry")).as("x-should-retry after the proxy's own retries").isEqualTo("false");
      assertThat(response.header("X-Relay-Attempts")).as("attempts").isEqualTo("2");
      assertThat(response.header("X-Request-Id")).as("request id").isNotBlank();
    }
    assertThat(upstream.getRequestCount()).as("upstream requests").isEqualTo(2);
  }

  @Test
  void upstreamThatNeverAnswersGives504UpstreamTimeout() throws Exception {
    startRelay(c -> c.maxAttempts(2).attemptTimeout(Duration.ofMillis(200)).retryTimeout(Duration.ofMillis(200)));
    MockResponse slow = new MockResponse.Builder().headersDelay(3, TimeUnit.SECONDS).body("{}").build();
    upstream.enqueue(slow);
    upstream.enqueue(slow);

    try (Response response = post("/v1/chat/completions", Upstreams.CHAT_REQUEST)) {
      assertThat(response.code()).as("status").isEqualTo(504);
      assertThat(json(response.body().string()).at("/error/code").asText()).as("code").isEqualTo("upstream_timeout");
      assertThat(response.header("x-should-retry")).as("x-should-retry").isEqualTo("false");
      assertThat(response.header("X-Relay-Attempts")).as("attempts").isEqualTo("2");
    }
  }

  @Test
  void unreachableUpstreamGives502UpstreamUnreachable() throws Exception {
    int closedPort;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      closedPort = socket.getLocalPort();
    }
    int port = closedPort;
    startRelay(c -> c.upstreamBaseUrl("http://127.0.0.1:" + port + "/v1").maxAttempts(2));

    try (Response response = post("/v1/chat/completions", Upstreams.CHAT_REQUEST)) {
      assertThat(response.code()).as("status").isEqualTo(502);
      assertThat(json(response.body().string()).at("/error/code").asText()).as("code").isEqualTo("upstream_unreachable");
      assertThat(response.header("X-Relay-Attempts")).as("attempts").isEqualTo("2");
    }
  }

  @Test
  void requestWithoutContentLengthWithinTheLimitIsRelayed() throws Exception {
    startRelay(c -> c.maxRequestBytes(1024));
    upstream.enqueue(Upstreams.chatJson());
    RequestBody chunked =
        new RequestBody() {
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
            sink.writeUtf8(Upstreams.CHAT_REQUEST);
          }
        };

    try (Response response =
        http.newCall(new Request.Builder().url(relay.url("/v1/chat/completions")).post(chunked).build()).execute()) {
      assertThat(response.code()).as("status").isEqualTo(200);
    }
    assertThat(upstream.takeRequest().getBody().utf8()).as("upstream body").isEqualTo(Upstreams.CHAT_REQUEST);
  }
}
