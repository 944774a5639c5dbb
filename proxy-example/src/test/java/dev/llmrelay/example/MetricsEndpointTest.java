package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * GET /metrics of the launcher, and the Grafana dashboard that reads it. The format tests use the
 * JDK's HttpClient, which, unlike OkHttp, neither asks for gzip nor unzips on its own: each test
 * sees exactly the headers and bytes the launcher sent.
 */
class MetricsEndpointTest {
  @StartStop public final MockWebServer upstream = new MockWebServer();
  /** Checks the upstream client of every relay a test starts, before the relay is closed. */
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private static final Pattern SAMPLE =
      Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})? (-?[0-9.eE+-]+|NaN|\\+Inf|-Inf)( [0-9]+)?$");
  private static final Pattern METRIC_IN_EXPR = Pattern.compile("[a-z][a-z0-9]*(?:_[a-z0-9]+)+");

  private final OkHttpClient http = new OkHttpClient();
  private RunningRelay relay;

  @BeforeEach
  void start() throws Exception {
    relay = start(Map.of());
  }

  private RunningRelay start(Map<String, String> extra) throws Exception {
    Map<String, String> env = new HashMap<>(extra);
    env.put("RELAY_PORT", "0");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("UPSTREAM_BASE_URL", upstream.url("/v1").toString());
    env.put("MODEL_FALLBACKS", "m=m-small"); // allow-lists m, so its route gauges exist
    RunningRelay started = RelayMain.start(env, null, false);
    leaks.track(started.client());
    return started;
  }

  @AfterEach
  void stop() {
    relay.close();
    http.dispatcher().executorService().shutdown();
    http.connectionPool().evictAll();
  }

  private String scrape() throws IOException {
    try (Response r = http.newCall(new Request.Builder().url(relay.url() + "/metrics").build()).execute()) {
      assertThat(r.code()).isEqualTo(200);
      assertThat(r.header("Content-Type")).startsWith("text/plain").contains("version=0.0.4");
      return r.body().string();
    }
  }

  @Test
  void metricsParseAsPrometheusTextAndHoldTheRelaySeries() throws Exception {
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"x\",\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":10}}").build());
    try (Response r = http.newCall(new Request.Builder().url(relay.url() + "/v1/chat/completions")
        .post(RequestBody.create("{\"model\":\"m\",\"messages\":[]}", MediaType.get("application/json"))).build()).execute()) {
      assertThat(r.code()).isEqualTo(200);
    }

    // Meters are recorded when the exchange ends, just after the client got its answer: wait.
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
        .until(() -> scrape().contains("llmrelay_requests_total{outcome=\"success\",stream=\"false\"} 1.0"));
    String text = scrape();

    List<String> bad = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
        continue;
      }
      if (!SAMPLE.matcher(line).matches()) {
        bad.add(line);
      }
    }
    assertThat(bad).as("lines that are not Prometheus text samples").isEmpty();
    assertThat(text)
        .contains("llmrelay_requests_total{outcome=\"success\",stream=\"false\"} 1.0")
        .contains("llmrelay_tokens_total{kind=\"completion\"} 6.0")
        .contains("llmrelay_upstream_attempts_total{result=\"success\"} 1.0")
        .contains("# TYPE llmrelay_request_duration_seconds histogram")
        .contains("llmrelay_permits_available 10.0")
        .contains("llmrelay_inflight_requests 0.0")
        .contains("jvm_memory_used_bytes")
        .contains("okhttp_pool_connection_count")
        .contains("jetty_threads_busy");
  }

  @Test
  void everyMetricTheDashboardQueriesIsExported() throws Exception {
    JsonNode dashboard;
    try (InputStream in = getClass().getResourceAsStream("/grafana/llmrelay-dashboard.json")) {
      assertThat(in).as("dashboard on the classpath").isNotNull();
      dashboard = new ObjectMapper().readTree(in);
    }
    Set<String> queried = new LinkedHashSet<>();
    for (JsonNode panel : dashboard.path("panels")) {
      for (JsonNode target : panel.path("targets")) {
        Matcher m = METRIC_IN_EXPR.matcher(target.path("expr").asText());
        while (m.find()) {
          if (!m.group().equals("histogram_quantile")) {
            queried.add(m.group());
          }
        }
      }
    }
    assertThat(queried).as("the dashboard queries our series").contains("llmrelay_requests_total", "llmrelay_upstream_up");
    // The shared-limits panels read meters that exist only when limits are shared: share them,
    // through an engine that is not there (the relay fails open and still exports its meters).
    relay.close();
    relay = start(Map.of("SHARED_STATE_URL", "redis://127.0.0.1:1", "SHARED_MAX_CONCURRENT_REQUESTS", "10",
        "SHARED_STATE_TIMEOUT_MILLIS", "100"));
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{\"id\":\"x\"}").build());
    try (Response r = http.newCall(new Request.Builder().url(relay.url() + "/v1/chat/completions")
        .post(RequestBody.create("{\"model\":\"m\",\"messages\":[]}", MediaType.get("application/json"))).build()).execute()) {
      assertThat(r.code()).isEqualTo(200);
    }

    // Meters are recorded when the exchange ends, just after the client got its answer: wait.
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).untilAsserted(() -> {
      Set<String> exported = new LinkedHashSet<>();
      for (String line : scrape().split("\n")) {
        Matcher m = SAMPLE.matcher(line);
        if (m.matches()) {
          exported.add(m.group(1));
        }
      }
      assertThat(exported).as("series /metrics exports").containsAll(queried);
    });
  }

  private final HttpClient jdkHttp = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private HttpResponse<byte[]> metrics(String query, String method, String... headers) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(relay.url() + "/metrics" + query))
        .timeout(Duration.ofSeconds(10))
        .method(method, HttpRequest.BodyPublishers.noBody());
    if (headers.length > 0) {
      request.headers(headers);
    }
    return jdkHttp.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  private static String text(HttpResponse<byte[]> response) {
    return new String(response.body(), StandardCharsets.UTF_8);
  }

  /** One successful chat request, and its meters recorded (they are, just after the client got its answer). */
  private void oneAnsweredRequest() throws Exception {
    upstream.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"x\"}").build());
    try (Response r = http.newCall(new Request.Builder().url(relay.url() + "/v1/chat/completions")
        .post(RequestBody.create("{\"model\":\"m\",\"messages\":[]}", MediaType.get("application/json"))).build()).execute()) {
      assertThat(r.code()).isEqualTo(200);
    }
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
        .until(() -> scrape().contains("llmrelay_requests_total{outcome=\"success\",stream=\"false\"} 1.0"));
  }

  @Test
  void withoutAcceptHeaderTheAnswerIsPrometheusText004Uncompressed() throws Exception {
    oneAnsweredRequest();

    HttpResponse<byte[]> response = metrics("", "GET");

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
    assertThat(response.headers().firstValue("Content-Encoding")).as("not compressed unless asked").isEmpty();
    assertThat(response.headers().firstValue("Cache-Control")).hasValue("no-store");
    assertThat(response.headers().firstValue(RequestIdHandler.HEADER)).as("request id as on every answer").isPresent();
    assertThat(text(response))
        .contains("# TYPE llmrelay_requests_total counter")
        .contains("llmrelay_requests_total{outcome=\"success\",stream=\"false\"} 1.0")
        .contains("llmrelay_permits_available 10.0")
        .doesNotContain("# EOF");
  }

  @Test
  void askedForOpenMetricsItAnswersOpenMetricsEndingInEof() throws Exception {
    oneAnsweredRequest();

    HttpResponse<byte[]> response =
        metrics("", "GET", "Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8");

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Content-Type").orElseThrow())
        .startsWith("application/openmetrics-text; version=1.0.0");
    String body = text(response);
    assertThat(body)
        .as("OpenMetrics names the counter family without _total and ends with # EOF")
        .contains("# TYPE llmrelay_requests counter")
        .contains("llmrelay_requests_total{outcome=\"success\",stream=\"false\"} 1.0")
        .contains("llmrelay_permits_available 10.0")
        .endsWith("# EOF\n");
  }

  @Test
  void acceptingGzipItAnswersAGzipBodyThatHoldsTheMetrics() throws Exception {
    oneAnsweredRequest();

    HttpResponse<byte[]> response = metrics("", "GET", "Accept-Encoding", "gzip");

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Content-Encoding")).hasValue("gzip");
    String unzipped;
    try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(response.body()))) {
      unzipped = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    assertThat(response.body().length).as("compressed").isLessThan(unzipped.length());
    assertThat(unzipped)
        .contains("llmrelay_requests_total{outcome=\"success\",stream=\"false\"} 1.0")
        .contains("llmrelay_permits_available 10.0")
        .contains("jvm_memory_used_bytes");
  }

  @Test
  void nameFiltersLeaveOnlyTheNamedSeries() throws Exception {
    HttpResponse<byte[]> response = metrics("?name[]=llmrelay_permits_available&name[]=llmrelay_inflight_requests", "GET");

    assertThat(response.statusCode()).isEqualTo(200);
    Set<String> names = new LinkedHashSet<>();
    for (String line : text(response).split("\n")) {
      Matcher m = SAMPLE.matcher(line);
      if (m.matches()) {
        names.add(m.group(1));
      }
    }
    assertThat(names).containsExactlyInAnyOrder("llmrelay_permits_available", "llmrelay_inflight_requests");
  }

  @Test
  void headAnswersTheHeadersWithoutABodyAndOtherMethodsAre405() throws Exception {
    HttpResponse<byte[]> head = metrics("", "HEAD");
    HttpResponse<byte[]> post = metrics("", "POST");

    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(head.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
    assertThat(head.body()).isEmpty();
    assertThat(post.statusCode()).isEqualTo(405);
    assertThat(post.headers().firstValue("Content-Type").orElse("")).as("the launcher's JSON errors").contains("json");
  }
}
