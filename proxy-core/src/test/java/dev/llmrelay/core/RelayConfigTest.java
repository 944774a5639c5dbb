package dev.llmrelay.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every variable of DESIGN.md §6 is read, validated, and named when it is wrong. */
class RelayConfigTest {

  @Test
  void defaultsAreTheDocumentedOnes() {
    RelayConfig c = RelayConfig.fromEnvironment(Map.of());
    assertThat(c.upstreamBaseUrl()).hasToString("https://openrouter.ai/api/v1");
    assertThat(c.upstreamApiKey()).isEmpty();
    assertThat(c.maxConcurrentRequests()).isEqualTo(10);
    assertThat(c.maxWait()).isEqualTo(Duration.ofSeconds(120));
    assertThat(c.maxQueuedRequests()).isEqualTo(1000);
    assertThat(c.maxAttempts()).isEqualTo(3);
    assertThat(c.attemptTimeout()).isEqualTo(Duration.ofSeconds(45));
    assertThat(c.retryTimeout()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.streamIdleTimeout()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.connectTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(c.backoffInitial()).isEqualTo(Duration.ofMillis(1000));
    assertThat(c.backoffMax()).isEqualTo(Duration.ofMillis(4000));
    assertThat(c.retryAfterMax()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.poolMaxIdleConnections()).isEqualTo(10);
    assertThat(c.poolKeepAlive()).isEqualTo(Duration.ofSeconds(300));
    assertThat(c.maxRequestBytes()).isEqualTo(32L * 1024 * 1024);
    assertThat(c.maxResponseBytes()).isEqualTo(64L * 1024 * 1024);
    assertThat(c.healthPath()).isEqualTo("/models");
    assertThat(c.healthTimeout()).isEqualTo(Duration.ofSeconds(5));
    assertThat(c.healthInterval()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.healthCache()).isEqualTo(Duration.ofMillis(2000));
    assertThat(c.debugMode()).isFalse();
    assertThat(c.logDir()).isEmpty();
  }

  @Test
  void everyVariableIsParsed() {
    Map<String, String> env = new HashMap<>();
    env.put("UPSTREAM_BASE_URL", "http://127.0.0.1:9999/api/v1/");
    env.put("UPSTREAM_API_KEY", "sk-upstream");
    env.put("RELAY_HOST", "0.0.0.0"); // a launcher's setting: ignored here
    env.put("MAX_CONCURRENT_REQUESTS", "7");
    env.put("MAX_WAIT_SECONDS", "2.5");
    env.put("MAX_QUEUED_REQUESTS", "11");
    env.put("MAX_ATTEMPTS", "4");
    env.put("ATTEMPT_TIMEOUT_SECONDS", "0.5");
    env.put("RETRY_TIMEOUT_SECONDS", "1.25");
    env.put("STREAM_IDLE_TIMEOUT_SECONDS", "3");
    env.put("CONNECT_TIMEOUT_SECONDS", "2");
    env.put("BACKOFF_INITIAL_MS", "50");
    env.put("BACKOFF_MAX_MS", "400");
    env.put("RETRY_AFTER_MAX_SECONDS", "9");
    env.put("POOL_MAX_IDLE_CONNECTIONS", "3");
    env.put("POOL_KEEP_ALIVE_SECONDS", "30");
    env.put("MAX_REQUEST_BYTES", "1024");
    env.put("MAX_RESPONSE_BYTES", "2048");
    env.put("HEALTH_PATH", "/key");
    env.put("HEALTH_TIMEOUT_SECONDS", "1.5");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("HEALTH_CACHE_MILLIS", "250");
    env.put("DEBUG_MODE", "true");
    env.put("LOG_DIR", "/tmp/relay-logs");

    RelayConfig c = RelayConfig.fromEnvironment(env);

    assertThat(c.upstreamBaseUrl()).as("trailing slash removed").hasToString("http://127.0.0.1:9999/api/v1");
    assertThat(c.upstreamApiKey()).contains("sk-upstream");
    assertThat(c.maxConcurrentRequests()).isEqualTo(7);
    assertThat(c.maxWait()).isEqualTo(Duration.ofMillis(2500));
    assertThat(c.maxQueuedRequests()).isEqualTo(11);
    assertThat(c.maxAttempts()).isEqualTo(4);
    assertThat(c.attemptTimeout()).isEqualTo(Duration.ofMillis(500));
    assertThat(c.retryTimeout()).isEqualTo(Duration.ofMillis(1250));
    assertThat(c.streamIdleTimeout()).isEqualTo(Duration.ofSeconds(3));
    assertThat(c.connectTimeout()).isEqualTo(Duration.ofSeconds(2));
    assertThat(c.backoffInitial()).isEqualTo(Duration.ofMillis(50));
    assertThat(c.backoffMax()).isEqualTo(Duration.ofMillis(400));
    assertThat(c.retryAfterMax()).isEqualTo(Duration.ofSeconds(9));
    assertThat(c.poolMaxIdleConnections()).isEqualTo(3);
    assertThat(c.poolKeepAlive()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.maxRequestBytes()).isEqualTo(1024);
    assertThat(c.maxResponseBytes()).isEqualTo(2048);
    assertThat(c.healthPath()).isEqualTo("/key");
    assertThat(c.healthTimeout()).isEqualTo(Duration.ofMillis(1500));
    assertThat(c.healthInterval()).isEqualTo(Duration.ZERO);
    assertThat(c.healthCache()).isEqualTo(Duration.ofMillis(250));
    assertThat(c.debugMode()).isTrue();
    assertThat(c.logDir()).contains(Path.of("/tmp/relay-logs"));
  }

  @Test
  void openRouterKeyIsReadWhenUpstreamKeyIsAbsent() {
    assertThat(RelayConfig.fromEnvironment(Map.of("OPENROUTER_API_KEY", "sk-or")).upstreamApiKey()).contains("sk-or");
    assertThat(RelayConfig.fromEnvironment(Map.of("OPENROUTER_API_KEY", "sk-or", "UPSTREAM_API_KEY", "sk-up")).upstreamApiKey())
        .contains("sk-up");
  }

  @ParameterizedTest(name = "{0}={1}")
  @CsvSource({
    "UPSTREAM_BASE_URL, ftp://example.com",
    "UPSTREAM_BASE_URL, not a url",
    "UPSTREAM_BASE_URL, http://example.com/v1?x=1",
    "MAX_CONCURRENT_REQUESTS, 0",
    "MAX_CONCURRENT_REQUESTS, 1.5",
    "MAX_WAIT_SECONDS, -1",
    "MAX_WAIT_SECONDS, soon",
    "MAX_QUEUED_REQUESTS, -1",
    "MAX_ATTEMPTS, 0",
    "ATTEMPT_TIMEOUT_SECONDS, 0",
    "RETRY_TIMEOUT_SECONDS, abc",
    "STREAM_IDLE_TIMEOUT_SECONDS, 0",
    "CONNECT_TIMEOUT_SECONDS, -2",
    "BACKOFF_INITIAL_MS, x",
    "BACKOFF_MAX_MS, 10",
    "RETRY_AFTER_MAX_SECONDS, -5",
    "POOL_MAX_IDLE_CONNECTIONS, -1",
    "POOL_KEEP_ALIVE_SECONDS, 0",
    "MAX_REQUEST_BYTES, 0",
    "MAX_RESPONSE_BYTES, 99999999999",
    "HEALTH_PATH, models",
    "HEALTH_PATH, /../admin",
    "HEALTH_TIMEOUT_SECONDS, 0",
    "HEALTH_INTERVAL_SECONDS, -1",
    "HEALTH_CACHE_MILLIS, forever",
    "DEBUG_MODE, maybe",
  })
  void aBadValueFailsStartUpNamingItsVariable(String name, String value) {
    assertThatThrownBy(() -> RelayConfig.fromEnvironment(Map.of(name, value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(name);
  }

  @Test
  void toStringMasksKeys() {
    RelayConfig c = RelayConfig.builder().upstreamApiKey("sk-or-v1-abcdefghijklmnop").build();
    assertThat(c.toString()).doesNotContain("abcdefghijkl").contains("****mnop");
  }

  @Test
  void toBuilderCopiesEverySetting() {
    RelayConfig c = RelayConfig.builder().maxAttempts(5).upstreamApiKey("k").debugMode(true).build();
    RelayConfig copy = c.toBuilder().build();
    assertThat(copy.toString()).isEqualTo(c.toString());
    assertThat(copy.upstreamApiKey()).contains("k");
  }

  @Test
  void failoverVariablesAreParsed() {
    Map<String, String> env = new HashMap<>();
    env.put("UPSTREAM_BASE_URL", "https://openrouter.ai/api/v1");
    env.put("UPSTREAM_WEIGHT", "3");
    env.put("UPSTREAM_2_BASE_URL", "http://127.0.0.1:8001/v1");
    env.put("UPSTREAM_2_API_KEY", "sk-two");
    env.put("UPSTREAM_2_WEIGHT", "2");
    env.put("UPSTREAM_2_MODELS", "gpt-4o-mini, claude-haiku");
    env.put("UPSTREAM_10_BASE_URL", "http://127.0.0.1:8010/v1");
    env.put("MODEL_FALLBACKS", "gpt-4o=gpt-4o-mini,claude-haiku; big=small");
    env.put("MAX_ROUTE_ATTEMPTS", "4");
    env.put("BREAKER_FAILURES", "7");
    env.put("BREAKER_FAILURE_RATE", "40");
    env.put("BREAKER_OPEN_SECONDS", "12.5");
    env.put("FIRST_EVENT_TIMEOUT_SECONDS", "8");
    env.put("ADAPTIVE_TIMEOUTS", "false");

    RelayConfig c = RelayConfig.fromEnvironment(env);

    assertThat(c.upstreams()).extracting(UpstreamConfig::name).containsExactly("primary", "upstream2", "upstream10");
    assertThat(c.upstreams().get(0).weight()).isEqualTo(3);
    UpstreamConfig two = c.upstreams().get(1);
    assertThat(two.baseUrl()).hasToString("http://127.0.0.1:8001/v1");
    assertThat(two.key()).contains("sk-two");
    assertThat(two.weight()).isEqualTo(2);
    assertThat(two.models()).containsExactlyInAnyOrder("gpt-4o-mini", "claude-haiku");
    assertThat(two.serves("gpt-4o-mini")).isTrue();
    assertThat(two.serves("gpt-4o")).isFalse();
    assertThat(c.upstreams().get(2).models()).as("empty = all").isEmpty();
    assertThat(c.modelFallbacks()).containsEntry("gpt-4o", List.of("gpt-4o-mini", "claude-haiku")).containsEntry("big", List.of("small"));
    assertThat(c.maxRouteAttempts()).isEqualTo(4);
    assertThat(c.breakerFailures()).isEqualTo(7);
    assertThat(c.breakerFailureRate()).isEqualTo(40);
    assertThat(c.breakerOpen()).isEqualTo(Duration.ofMillis(12500));
    assertThat(c.firstEventTimeout()).isEqualTo(Duration.ofSeconds(8));
    assertThat(c.adaptiveTimeouts()).isFalse();
    assertThat(c.toString()).doesNotContain("sk-two");
  }

  @Test
  void failoverDefaults() {
    RelayConfig c = RelayConfig.fromEnvironment(Map.of());
    assertThat(c.upstreams()).hasSize(1);
    assertThat(c.modelFallbacks()).isEmpty();
    assertThat(c.maxRouteAttempts()).isEqualTo(6);
    assertThat(c.breakerFailures()).isEqualTo(5);
    assertThat(c.breakerFailureRate()).isEqualTo(50);
    assertThat(c.breakerOpen()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.firstEventTimeout()).as("off").isEqualTo(Duration.ZERO);
    assertThat(c.adaptiveTimeouts()).isTrue();
  }

  @ParameterizedTest(name = "{0}={1}")
  @CsvSource(delimiter = '|', value = {
    "UPSTREAM_2_BASE_URL|ftp://x",
    "UPSTREAM_WEIGHT|0",
    "MODEL_FALLBACKS|gpt-4o",
    "MODEL_FALLBACKS|=a,b",
    "MAX_ROUTE_ATTEMPTS|0",
    "BREAKER_FAILURES|0",
    "BREAKER_FAILURE_RATE|101",
    "BREAKER_OPEN_SECONDS|0",
    "FIRST_EVENT_TIMEOUT_SECONDS|-1",
    "ADAPTIVE_TIMEOUTS|sometimes",
  })
  void aBadFailoverValueNamesItsVariable(String name, String value) {
    assertThatThrownBy(() -> RelayConfig.fromEnvironment(Map.of(name, value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(name);
  }

  @Test
  void aBadWeightOfAnAdditionalUpstreamNamesItsVariable() {
    assertThatThrownBy(() -> RelayConfig.fromEnvironment(Map.of("UPSTREAM_3_BASE_URL", "http://127.0.0.1:1/v1", "UPSTREAM_3_WEIGHT", "x")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("UPSTREAM_3_WEIGHT");
  }

  @Test
  void credentialsInTheBaseUrlAndItsQueryNeverReachALogLine() {
    RelayConfig c = RelayConfig.fromEnvironment(Map.of(
        "UPSTREAM_BASE_URL", "http://alice:s3cret-pw@127.0.0.1:9999/v1",
        "UPSTREAM_2_BASE_URL", "http://bob:other-pw@127.0.0.2:9999/v1"));

    assertThat(c.toString()).doesNotContain("s3cret-pw").doesNotContain("alice").contains("http://***@127.0.0.1:9999/v1");
    assertThat(c.upstreams().get(1).toString()).doesNotContain("other-pw").contains("***@127.0.0.2");
    assertThatThrownBy(() -> RelayConfig.fromEnvironment(Map.of("UPSTREAM_BASE_URL", "http://h/v1?api-key=sk-in-query")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("UPSTREAM_BASE_URL")
        .hasMessageNotContaining("sk-in-query");
    assertThatThrownBy(() -> RelayConfig.fromEnvironment(Map.of("UPSTREAM_BASE_URL", "ftp://u:pw-in-ftp@h/v1")))
        .hasMessageNotContaining("pw-in-ftp");
    assertThat(RelayConfig.redactUrl("https://u:p@h:1/a?k=v#f")).isEqualTo("https://***@h:1/a?***");
  }

  @Test
  void continuationAndTheRetryBudgetAreConfiguredPerUpstreamAndFromTheEnvironment() {
    RelayConfig c = RelayConfig.fromEnvironment(Map.of(
        "UPSTREAM_STREAM_CONTINUATION", "false",
        "UPSTREAM_2_BASE_URL", "http://127.0.0.2:9999/v1",
        "UPSTREAM_3_BASE_URL", "http://127.0.0.3:9999/v1",
        "UPSTREAM_3_STREAM_CONTINUATION", "false",
        "RETRY_BUDGET_PERCENT", "50",
        "RETRY_BUDGET_MIN_RETRIES", "4"));

    assertThat(c.upstreams()).extracting(UpstreamConfig::streamContinuation).containsExactly(false, true, false);
    assertThat(c.retryBudgetPercent()).isEqualTo(50);
    assertThat(c.retryBudgetMinRetries()).isEqualTo(4);
    assertThatThrownBy(() -> RelayConfig.fromEnvironment(Map.of("RETRY_BUDGET_PERCENT", "101")))
        .hasMessageContaining("RETRY_BUDGET_PERCENT");
  }
}
