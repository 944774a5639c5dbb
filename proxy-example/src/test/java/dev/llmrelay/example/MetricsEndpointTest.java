package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

/** GET /metrics of the launcher, and the Grafana dashboard that reads it. */
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
    Map<String, String> env = new HashMap<>();
    env.put("RELAY_PORT", "0");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("UPSTREAM_BASE_URL", upstream.url("/v1").toString());
    env.put("MODEL_FALLBACKS", "m=m-small"); // allow-lists m, so its route gauges exist
    relay = RelayMain.start(env, null, false);
    leaks.track(relay.client());
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
}
