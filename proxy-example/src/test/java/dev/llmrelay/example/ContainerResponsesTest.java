package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.testing.LeakCheck;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.junit5.StartStop;
import okhttp3.Headers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, defect 5: every response of the launcher is the proxy's. Requests with hop-by-hop
 * headers Jetty used to refuse are proxied with those headers stripped; every error, the
 * container's own included, is the OpenAI-shaped JSON error; every response carries one {@code
 * X-Request-Id}; none names the server software. Raw sockets, so the requests are exactly as
 * written.
 */
class ContainerResponsesTest {
  private static final String CHAT = "{\"model\":\"m\",\"messages\":[]}";
  private static final String UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

  @StartStop public final MockWebServer upstream = new MockWebServer();
  @TempDir Path dir;
  /** Checks the upstream client of every relay a test starts, before the relay is closed. */
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private RunningRelay relay;

  @BeforeEach
  void start() throws Exception {
    Map<String, String> env = new HashMap<>();
    env.put("RELAY_PORT", "0");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("MAX_CONCURRENT_REQUESTS", "2");
    env.put("UPSTREAM_BASE_URL", upstream.url("/v1").toString());
    relay = RelayMain.start(env, dir.resolve(".env"), false);
    leaks.track(relay.client());
  }

  @AfterEach
  void stop() {
    relay.close();
  }

  private RawHttp.Response send(String request) throws Exception {
    return RawHttp.exchange(relay.port(), request);
  }

  private static void assertJsonError(RawHttp.Response r, int status, String code) {
    assertThat(r.status()).as(r.statusLine() + "\n" + r.body()).isEqualTo(status);
    assertThat(r.header("Content-Type")).as("content type").startsWith("application/json");
    assertThat(r.body())
        .as("OpenAI-shaped error")
        .startsWith("{\"error\":{\"message\":\"")
        .containsPattern("\"type\":\"(proxy_error|invalid_request_error)\"")
        .contains("\"param\":null")
        .contains("\"code\":\"" + code + "\"")
        .doesNotContainIgnoringCase("<html")
        .doesNotContain("Jetty");
    assertThat(r.header("X-Request-Id")).as("X-Request-Id").isNotBlank();
    assertNoBanner(r);
  }

  private static void assertNoBanner(RawHttp.Response r) {
    assertThat(r.hasHeader("Server")).as("Server header: " + r.header("Server")).isFalse();
    assertThat(r.hasHeader("X-Powered-By")).as("X-Powered-By").isFalse();
  }

  @Test
  void aChatRequestWithHopByHopHeadersIsProxiedWithThemStripped() throws Exception {
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"ok\"}").build());

    RawHttp.Response r = send(RawHttp.post("/v1/chat/completions", CHAT,
        "Connection: keep-alive, X-Secret",
        "X-Secret: s3cret",
        "Upgrade: example/1",
        "Keep-Alive: timeout=5",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Proxy-Authorization: Basic dXNlcjpwdw==",
        "X-Request-Id: hop-by-hop-1"));

    assertThat(r.status()).as(r.statusLine() + "\n" + r.body()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("{\"id\":\"ok\"}");
    assertThat(r.header("X-Request-Id")).isEqualTo("hop-by-hop-1");
    assertNoBanner(r);
    assertThat(upstream.getRequestCount()).isEqualTo(1);
    Headers upstreamHeaders = upstream.takeRequest().getHeaders();
    for (String name : new String[] {"X-Secret", "Upgrade", "Keep-Alive", "TE", "Trailer", "Proxy-Authorization"}) {
      assertThat(upstreamHeaders.get(name)).as(name + " reached the upstream").isNull();
    }
    assertThat(upstreamHeaders.values("Connection")).as("the client's Connection header")
        .noneMatch(v -> v.contains("X-Secret") || v.contains("Upgrade"));
  }

  @Test
  void anUpgradeNamingAProtocolTheRelayDoesNotSpeakIsProxiedAsPlainHttp() throws Exception {
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"ok\"}").build());

    RawHttp.Response r = send(RawHttp.post("/v1/chat/completions", CHAT,
        "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA"));

    assertThat(r.status()).as(r.statusLine()).isEqualTo(200);
    RecordedRequest recorded = upstream.takeRequest();
    assertThat(recorded.getHeaders().get("Upgrade")).isNull();
    assertThat(recorded.getHeaders().get("HTTP2-Settings")).isNull();
  }

  @Test
  void aMalformedRequestLineGetsAJson400() throws Exception {
    assertJsonError(send("THIS IS NOT HTTP\r\n\r\n"), 400, "bad_request");
  }

  @Test
  void anUnsupportedHttpVersionGetsAJsonError() throws Exception {
    RawHttp.Response r = send("GET /health HTTP/7.1\r\nHost: x\r\n\r\n");
    assertThat(r.status()).isBetween(400, 505);
    assertJsonError(r, r.status(), r.status() == 505 ? "http_version_not_supported" : "bad_request");
  }

  @Test
  void headersTooLargeGetAJson431() throws Exception {
    RawHttp.Response r = send(RawHttp.get("/health", "X-Big: " + "a".repeat(20_000)));
    assertJsonError(r, 431, "request_headers_too_large");
  }

  @Test
  void anAmbiguousPathGetsAJson400FromTheContainer() throws Exception {
    assertJsonError(send(RawHttp.get("/v1/chat%2Fcompletions")), 400, "bad_request");
  }

  @Test
  void aRequestTheSevletContainerRefusesWithAStatusOfItsOwnGetsJson() throws Exception {
    // MetricsServlet only implements GET: HttpServlet answers POST with sendError(405)
    RawHttp.Response r = send(RawHttp.post("/metrics", "{}"));
    assertJsonError(r, 405, "method_not_allowed");
  }

  @Test
  void metricsCarriesTheClientsRequestIdOrANewOne() throws Exception {
    RawHttp.Response withId = send(RawHttp.get("/metrics", "X-Request-Id: scrape-7"));
    assertThat(withId.status()).isEqualTo(200);
    assertThat(withId.header("X-Request-Id")).isEqualTo("scrape-7");
    assertNoBanner(withId);

    RawHttp.Response withoutId = send(RawHttp.get("/metrics"));
    assertThat(withoutId.header("X-Request-Id")).matches(UUID_PATTERN);

    RawHttp.Response invalidId = send(RawHttp.get("/metrics", "X-Request-Id: " + "x".repeat(129)));
    assertThat(invalidId.header("X-Request-Id")).as("an id over 128 characters is replaced").matches(UUID_PATTERN);
  }

  @Test
  void aRequestWithoutAnIdGetsOneIdSharedByTheResponseAndTheUpstreamRequest() throws Exception {
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"ok\"}").build());

    RawHttp.Response r = send(RawHttp.post("/v1/chat/completions", CHAT, "Connection: close"));

    assertThat(r.status()).isEqualTo(200);
    assertThat(r.headers().get("x-request-id")).as("exactly one X-Request-Id").hasSize(1);
    assertThat(r.header("X-Request-Id")).matches(UUID_PATTERN)
        .isEqualTo(upstream.takeRequest().getHeaders().get("X-Request-Id"));
  }

  @Test
  void theRelaysOwnErrorsAndHealthCarryNoBannerAndOneRequestId() throws Exception {
    RawHttp.Response notFound = send(RawHttp.get("/nowhere", "X-Request-Id: nf-1"));
    assertJsonError(notFound, 404, "not_found");
    assertThat(notFound.headers().get("x-request-id")).containsExactly("nf-1");

    RawHttp.Response health = send(RawHttp.get("/health"));
    assertThat(health.status()).isEqualTo(200);
    assertThat(health.headers().get("x-request-id")).hasSize(1);
    assertNoBanner(health);
  }
}
