package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.util.List;
import java.util.stream.Stream;
import mockwebserver3.MockWebServer;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.BufferedSink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every request the relay refuses on its own (413, 400, 401, 404, 405) is answered with the
 * OpenAI-shaped error of DESIGN.md §2 and never reaches the upstream.
 */
class RelayServletRejectionTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final String KEY = "relay-test-key";
  private static final int LIMIT = 1024;

  /** One client for the whole class: checked after every test, closed after the last. */
  @RegisterExtension static final LeakCheck leaks = new LeakCheck();

  private static MockWebServer upstream;
  private static UpstreamClient client;
  private static JettyRelay relay;
  private static OkHttpClient http;

  @BeforeAll
  static void start() throws Exception {
    upstream = Upstreams.start();
    client = leaks.client(Upstreams.config(upstream).maxRequestBytes(LIMIT).build());
    relay = JettyRelay.mount(client, List.of(KEY));
    http = TestHttp.client();
  }

  @AfterAll
  static void stop() throws Exception {
    TestHttp.close(http);
    relay.close();
    upstream.close();
  }

  static Stream<Arguments> rejections() {
    String big = "{\"model\":\"m\",\"pad\":\"" + "x".repeat(LIMIT) + "\"}";
    return Stream.of(
        Arguments.of("413: Content-Length over MAX_REQUEST_BYTES", "POST", "/v1/chat/completions", "Bearer " + KEY, big, true, 413, "request_too_large", null),
        Arguments.of("413: chunked body over MAX_REQUEST_BYTES", "POST", "/v1/chat/completions", "Bearer " + KEY, big, false, 413, "request_too_large", null),
        Arguments.of("400: not JSON", "POST", "/v1/chat/completions", "Bearer " + KEY, "hello", true, 400, "invalid_json", null),
        Arguments.of("400: a JSON array", "POST", "/v1/chat/completions", "Bearer " + KEY, "[{\"model\":\"m\"}]", true, 400, "invalid_json", null),
        Arguments.of("400: empty body", "POST", "/v1/embeddings", "Bearer " + KEY, "", true, 400, "invalid_json", null),
        Arguments.of("400: truncated JSON", "POST", "/v1/completions", "Bearer " + KEY, "{\"model\":\"m\",", true, 400, "invalid_json", null),
        Arguments.of("400: content after the object", "POST", "/v1/chat/completions", "Bearer " + KEY, "{\"model\":\"m\"} {}", true, 400, "invalid_json", null),
        Arguments.of("401: no Authorization", "POST", "/v1/chat/completions", null, Upstreams.CHAT_REQUEST, true, 401, "invalid_proxy_key", null),
        Arguments.of("401: wrong key", "POST", "/v1/chat/completions", "Bearer relay-test-kez", Upstreams.CHAT_REQUEST, true, 401, "invalid_proxy_key", null),
        Arguments.of("401: right key, wrong scheme", "POST", "/v1/chat/completions", "Basic " + KEY, Upstreams.CHAT_REQUEST, true, 401, "invalid_proxy_key", null),
        Arguments.of("401: on GET /v1/models too", "GET", "/v1/models", "Bearer nope", null, true, 401, "invalid_proxy_key", null),
        Arguments.of("404: unknown /v1 path", "POST", "/v1/images/generations", "Bearer " + KEY, Upstreams.CHAT_REQUEST, true, 404, "not_found", null),
        Arguments.of("404: below an allowlisted path", "POST", "/v1/chat/completions/extra", "Bearer " + KEY, Upstreams.CHAT_REQUEST, true, 404, "not_found", null),
        Arguments.of("404: the root", "GET", "/", null, null, true, 404, "not_found", null),
        Arguments.of("404: another version", "POST", "/v2/chat/completions", "Bearer " + KEY, Upstreams.CHAT_REQUEST, true, 404, "not_found", null),
        Arguments.of("405: GET on chat completions", "GET", "/v1/chat/completions", "Bearer " + KEY, null, true, 405, "method_not_allowed", "POST"),
        Arguments.of("405: PUT on chat completions", "PUT", "/v1/chat/completions", "Bearer " + KEY, Upstreams.CHAT_REQUEST, true, 405, "method_not_allowed", "POST"),
        Arguments.of("405: POST on models", "POST", "/v1/models", "Bearer " + KEY, "{}", true, 405, "method_not_allowed", "GET"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rejections")
  void refusedRequestGetsOpenAiErrorWithoutAnyUpstreamRequest(
      String name,
      String method,
      String path,
      String authorization,
      String body,
      boolean withContentLength,
      int status,
      String code,
      String allow)
      throws IOException {
    Request.Builder request = new Request.Builder().url(relay.url(path)).header("X-Request-Id", "rej-1");
    if (authorization != null) {
      request.header("Authorization", authorization);
    }
    request.method(method, body == null ? null : body(body, withContentLength));

    try (Response response = http.newCall(request.build()).execute()) {
      String text = response.body().string();
      assertThat(response.code()).as("status").isEqualTo(status);
      assertThat(response.header("Content-Type")).as("content type").startsWith("application/json");
      assertThat(response.header("X-Request-Id")).as("request id").isEqualTo("rej-1");
      JsonNode error = MAPPER.readTree(text).path("error");
      assertThat(error.path("code").asText()).as("error code in " + text).isEqualTo(code);
      assertThat(error.path("type").asText()).as("error type").isEqualTo("proxy_error");
      assertThat(error.has("param")).as("param field present").isTrue();
      assertThat(error.path("message").asText()).as("message").isNotBlank();
      assertThat(response.header("Allow")).as("Allow header").isEqualTo(allow);
      if (authorization != null) {
        assertThat(text).as("body never echoes the presented key").doesNotContain(authorization.substring(authorization.indexOf(' ') + 1));
      }
    }
    assertThat(upstream.getRequestCount()).as("upstream requests").isZero();
  }

  private static RequestBody body(String text, boolean withContentLength) {
    if (withContentLength) {
      return TestHttp.json(text);
    }
    return new RequestBody() {
      @Override
      public okhttp3.MediaType contentType() {
        return TestHttp.JSON;
      }

      @Override
      public long contentLength() {
        return -1; // chunked: the limit must hold while reading
      }

      @Override
      public void writeTo(BufferedSink sink) throws IOException {
        sink.writeUtf8(text);
      }
    };
  }
}
