package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.jobs.JobStoreUnavailableException;
import dev.llmrelay.core.jobs.RelayJobs;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import mockwebserver3.MockWebServer;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The drop-in's jobs ({@link LlmRelayContextListener}): on only with {@code JOB_STORE_URL} (no
 * default store inside a container), {@code JOBS_ENABLED=true} without it fails the start by name,
 * and stopping the application closes the job service and its threads before the client.
 */
class LlmRelayContextListenerJobsTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  @RegisterExtension final LeakCheck leaks = new LeakCheck();
  @TempDir Path dir;

  private MockWebServer upstream;
  private final OkHttpClient http = TestHttp.client();

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = Upstreams.start();
  }

  @AfterEach
  void stopUpstream() {
    TestHttp.close(http);
    upstream.close();
  }

  private Map<String, String> settings() {
    Map<String, String> p = new HashMap<>();
    p.put("UPSTREAM_BASE_URL", "http://127.0.0.1:" + upstream.getPort() + "/v1");
    p.put("UPSTREAM_API_KEY", "sk-dropin-upstream");
    p.put("HEALTH_INTERVAL_SECONDS", "0");
    p.put("JOB_POLL_MILLIS", "50");
    return p;
  }

  private Response submit(JettyRelay relay, String path) throws IOException {
    return http.newCall(new Request.Builder().url(relay.url(path))
        .header("Prefer", "respond-async")
        .post(TestHttp.json(Upstreams.CHAT_REQUEST)).build()).execute();
  }

  private static List<Thread> relayThreads(Set<Thread> before) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && !before.contains(t) && t.getName().startsWith("llmrelay-"))
        .toList();
  }

  @Test
  void withJobStoreUrlJobsAreOnUnderThePrefixAndStoppingClosesThemAndTheirThreads() throws Exception {
    Map<String, String> params = settings();
    Path file = dir.resolve("store/jobs.db");
    params.put("JOB_STORE_URL", "jdbc:sqlite:" + file);
    LlmRelayContextListener listener = new LlmRelayContextListener();
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    RelayJobs jobs;
    try (JettyRelay relay = JettyRelay.start(context -> {
      params.forEach(context::setInitParameter);
      context.addEventListener(listener);
    })) {
      jobs = listener.jobs().orElseThrow();
      upstream.enqueue(Upstreams.chatJson());
      String location;
      try (Response accepted = submit(relay, "/llm/v1/chat/completions")) {
        assertThat(accepted.code()).isEqualTo(202);
        location = accepted.header("Location");
      }
      assertThat(location).startsWith("/llm/v1/relay/jobs/job_");
      await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
        try (Response r = http.newCall(new Request.Builder().url(relay.url(location)).build()).execute()) {
          JsonNode job = MAPPER.readTree(r.body().string());
          assertThat(job.path("status").asText()).isEqualTo("completed");
        }
      });
      assertThat(Files.exists(file)).as("the store is where JOB_STORE_URL says").isTrue();
      leaks.assertReleased(listener.client());
    }
    assertThat(listener.jobs()).isEmpty();
    assertThatThrownBy(() -> jobs.submit(new dev.llmrelay.core.jobs.JobSubmission("anonymous",
            dev.llmrelay.core.Endpoint.CHAT_COMPLETIONS, Map.of(), Upstreams.CHAT_REQUEST.getBytes(), null, null, null)))
        .as("the job service was closed")
        .isInstanceOf(JobStoreUnavailableException.class)
        .hasMessageContaining("closed");
    assertThat(relayThreads(before)).as("relay threads (jobs, store calls, client) after stop").isEmpty();
  }

  @Test
  void withoutJobStoreUrlJobsAreOffAndThePreferenceIsIgnored() throws Exception {
    LlmRelayContextListener listener = new LlmRelayContextListener();
    try (JettyRelay relay = JettyRelay.start(context -> {
      settings().forEach(context::setInitParameter);
      context.addEventListener(listener);
    })) {
      assertThat(listener.jobs()).isEmpty();
      upstream.enqueue(Upstreams.chatJson());
      try (Response r = submit(relay, "/llm/v1/chat/completions")) {
        assertThat(r.code()).as("served synchronously").isEqualTo(200);
      }
      try (Response r = http.newCall(new Request.Builder().url(relay.url("/llm/v1/relay/jobs")).build()).execute()) {
        assertThat(r.code()).isEqualTo(404);
      }
      leaks.assertReleased(listener.client());
    }
    assertThat(Files.exists(Path.of("llmrelay-data/jobs.db"))).as("no store in the working directory").isFalse();
  }

  @Test
  void jobsEnabledWithoutAStoreFailsTheStartNamingJobStoreUrl() throws Exception {
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    assertThatThrownBy(() -> JettyRelay.start(context -> {
          settings().forEach(context::setInitParameter);
          context.setInitParameter("JOBS_ENABLED", "true");
          context.addEventListener(new LlmRelayContextListener());
        }).close())
        .hasStackTraceContaining("llmrelay cannot start in /: JOBS_ENABLED=true needs JOB_STORE_URL");
    assertThat(relayThreads(before)).isEmpty();
  }

  @Test
  void aStoreThatCannotBeUsedFailsTheStartNamingItAndLeavesNothingRunning() throws Exception {
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    assertThatThrownBy(() -> JettyRelay.start(context -> {
          settings().forEach(context::setInitParameter);
          context.setInitParameter("JOB_STORE_URL", "jdbc:postgresql://127.0.0.1:1/jobs");
          context.setInitParameter("JOB_STORE_PASSWORD", "pg-secret-99");
          context.addEventListener(new LlmRelayContextListener());
        }).close())
        .hasStackTraceContaining("the job store jdbc:postgresql://127.0.0.1:1/jobs")
        .satisfies(e -> assertThat(e.toString()).doesNotContain("pg-secret-99"));
    assertThat(relayThreads(before)).isEmpty();
  }
}
