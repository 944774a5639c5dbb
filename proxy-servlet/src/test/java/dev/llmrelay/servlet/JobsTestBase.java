package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.jobs.JobsConfig;
import dev.llmrelay.core.jobs.RelayJobs;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.function.UnaryOperator;
import okhttp3.Headers;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The set-up of the job tests: the {@link JobUpstream}, a relay client with an upstream key, a job
 * service on a SQLite file in a temporary directory (or the store a subclass names), and a real
 * Jetty mounting both through {@link LlmRelayServlets#mount(jakarta.servlet.ServletContext, String,
 * UpstreamClient, java.util.Collection, RelayJobs)}. The shared leak check runs right after each
 * test; then Jetty, the job service (before the client, as in production) and the upstream stop.
 */
abstract class JobsTestBase {
  static final String UPSTREAM_KEY = "sk-upstream-test-key";
  static final ObjectMapper JSON = new ObjectMapper();
  static final String CHAT = Upstreams.CHAT_REQUEST;

  @RegisterExtension final LeakCheck leaks = new LeakCheck();
  @TempDir Path dir;

  JobUpstream upstream;
  UpstreamClient client;
  RelayJobs jobs;
  JettyRelay relay;
  String prefix = "";
  final OkHttpClient http = TestHttp.client().newBuilder().readTimeout(Duration.ofSeconds(30)).build();

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = new JobUpstream();
  }

  /** The store of this test class: a SQLite file in the test's directory. */
  String storeUrl() {
    return "jdbc:sqlite:" + dir.resolve("data/jobs.db");
  }

  /** Store user and password, for engines that need them. */
  String[] storeCredentials() {
    return new String[] {null, null};
  }

  void start() throws Exception {
    start(c -> c, j -> j, List.of());
  }

  /** Starts client, jobs (null {@code jobsConfig}: none) and Jetty. */
  void start(UnaryOperator<RelayConfig.Builder> config, UnaryOperator<JobsConfig.Builder> jobsConfig, List<String> keys)
      throws Exception {
    // Held upstream requests must not time out while a test holds them.
    RelayConfig.Builder base = Upstreams.config(upstream.server)
        .upstreamApiKey(UPSTREAM_KEY)
        .attemptTimeout(Duration.ofSeconds(30))
        .retryTimeout(Duration.ofSeconds(30))
        .streamIdleTimeout(Duration.ofSeconds(30));
    client = leaks.client(config.apply(base).build());
    if (jobsConfig != null) {
      JobsConfig.Builder b = JobsConfig.builder()
          .storeUrl(storeUrl())
          .storeUser(storeCredentials()[0])
          .storePassword(storeCredentials()[1])
          .pollInterval(Duration.ofMillis(50))
          .lease(Duration.ofSeconds(5))
          .maxConcurrent(2);
      jobs = RelayJobs.start(client, jobsConfig.apply(b).build());
    }
    RelayJobs j = jobs;
    relay = JettyRelay.start(context -> LlmRelayServlets.mount(context.getServletContext(), prefix, client, keys, j));
  }

  @AfterEach
  void stopAll() throws Exception {
    try {
      TestHttp.close(http);
      if (relay != null) {
        relay.close();
      }
      if (jobs != null) {
        jobs.close();
      }
    } finally {
      upstream.stop();
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  /** A response read whole. */
  record Answer(int status, Headers headers, byte[] bytes) {
    String body() {
      return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
    }

    JsonNode json() {
      try {
        return JSON.readTree(bytes);
      } catch (IOException e) {
        throw new UncheckedIOException("not JSON: " + body(), e);
      }
    }

    String header(String name) {
      return headers.get(name);
    }

    String errorCode() {
      return json().path("error").path("code").asText(null);
    }

    @Override
    public String toString() {
      return status + " " + body();
    }
  }

  Answer call(Request request) {
    try (Response r = http.newCall(request).execute()) {
      return new Answer(r.code(), r.headers(), r.body().bytes());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  Request.Builder request(String path, String... headers) {
    Request.Builder b = new Request.Builder().url(relay.url(prefix + path));
    for (String h : headers) {
      int colon = h.indexOf(':');
      b.addHeader(h.substring(0, colon).trim(), h.substring(colon + 1).trim());
    }
    return b;
  }

  Answer post(String path, String body, String... headers) {
    return call(request(path, headers).post(TestHttp.json(body)).build());
  }

  Answer get(String path, String... headers) {
    return call(request(path, headers).get().build());
  }

  Answer delete(String path, String... headers) {
    return call(request(path, headers).delete().build());
  }

  Answer method(String method, String path, String... headers) {
    RequestBody body = method.equals("POST") || method.equals("PUT") || method.equals("PATCH") ? TestHttp.json("{}") : null;
    return call(request(path, headers).method(method, body).build());
  }

  /** Submits a chat request as a job and checks the 202. */
  Answer submit(String body, String... headers) {
    String[] all = java.util.Arrays.copyOf(headers, headers.length + 1);
    all[headers.length] = "Prefer: respond-async";
    Answer a = post("/v1/chat/completions", body, all);
    assertThat(a.status()).as(a.toString()).isEqualTo(202);
    return a;
  }

  static String chat(String content) {
    return "{\"model\":\"test-model\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
  }

  /** Polls the job until its status is {@code status}; returns the job object. */
  JsonNode awaitStatus(String id, String status, String... headers) {
    JsonNode[] last = new JsonNode[1];
    await("job " + id + " " + status).atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
      Answer a = get("/v1/relay/jobs/" + id, headers);
      assertThat(a.status()).as(a.toString()).isEqualTo(200);
      last[0] = a.json();
      assertThat(last[0].path("status").asText()).isEqualTo(status);
    });
    return last[0];
  }

  // ---- the store, read directly --------------------------------------------------------------

  long rows() {
    try (Connection c = DriverManager.getConnection(storeUrl(), storeCredentials()[0], storeCredentials()[1]);
        Statement s = c.createStatement();
        ResultSet r = s.executeQuery("SELECT COUNT(*) FROM llmrelay_jobs")) {
      r.next();
      return r.getLong(1);
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }
}
