package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockWebServer;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LlmRelayContextListener} used programmatically (embedded Jetty 12): the client made from
 * the application's context parameters, over the environment; the relay under the configured
 * prefix or {@code /llm}; the client closed, with its threads, when the application stops; an
 * invalid setting failing the start by name, leaving nothing running. (The WAR form, in Tomcat, is
 * {@link WarDeploymentTest}.)
 */
class LlmRelayContextListenerTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /** For its check alone: each test closes the listener's client by stopping the application. */
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

  private static void params(ServletContextHandler context, Map<String, String> params) {
    params.forEach(context::setInitParameter);
  }

  private Response call(okhttp3.HttpUrl url, String bearer) throws IOException {
    Request.Builder request = new Request.Builder().url(url).post(TestHttp.json(Upstreams.CHAT_REQUEST));
    if (bearer != null) {
      request.header("Authorization", "Bearer " + bearer);
    }
    return http.newCall(request.build()).execute();
  }

  private static List<Thread> relayThreads(Set<Thread> before) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && !before.contains(t) && t.getName().startsWith("llmrelay-"))
        .toList();
  }

  @Test
  void contextParametersConfigureTheRelayUnderItsPrefixAndStoppingClosesItsClientAndThreads() throws Exception {
    // surefire's environment says UPSTREAM_BASE_URL=http://127.0.0.1:1/v1: the context-param must win
    LlmRelayContextListener listener = new LlmRelayContextListener();
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    UpstreamClient client;
    try (JettyRelay relay = JettyRelay.start(context -> {
      params(context, Map.of(
          "UPSTREAM_BASE_URL", "http://127.0.0.1:" + upstream.getPort() + "/v1",
          "LLMRELAY_PATH_PREFIX", "/ai",
          "RELAY_API_KEYS", "client-key-1",
          "MAX_CONCURRENT_REQUESTS", "3"));
      context.addEventListener(listener);
    })) {
      client = listener.client();
      assertThat(client.config().upstreamBaseUrl().getPort()).as("upstream from the context-param").isEqualTo(upstream.getPort());
      assertThat(client.config().maxConcurrentRequests()).as("a setting from the context-param").isEqualTo(3);
      assertThat(client.config().maxAttempts()).as("a setting from the environment (surefire's)").isEqualTo(1);

      try (Response refused = call(relay.url("/ai/v1/chat/completions"), null)) {
        assertThat(refused.code()).as("without the proxy key").isEqualTo(401);
      }
      upstream.enqueue(Upstreams.chatJson());
      try (Response chat = call(relay.url("/ai/v1/chat/completions"), "client-key-1")) {
        assertThat(chat.code()).as("with the proxy key").isEqualTo(200);
        assertThat(chat.body().string()).isEqualTo(Upstreams.CHAT_JSON);
      }
      try (Response health = http.newCall(new Request.Builder().url(relay.url("/ai/health")).build()).execute()) {
        assertThat(health.code()).as("health under the prefix").isEqualTo(200);
        assertThat(MAPPER.readTree(health.body().string()).at("/max_concurrent").asInt()).as("the listener's client").isEqualTo(3);
      }
      assertThat(upstream.getRequestCount()).isEqualTo(1);
      leaks.assertReleased(client);
    }

    // After the application stopped: the listener let go of its client, which is closed, threads and all
    assertThatThrownBy(listener::client).isInstanceOf(IllegalStateException.class);
    assertThat(relayThreads(before)).as("relay threads after stop").isEmpty();
    RecordingClientSink sink = new RecordingClientSink();
    client.start(dev.llmrelay.core.ClientRequest.of(
        dev.llmrelay.core.Endpoint.CHAT_COMPLETIONS, Upstreams.CHAT_REQUEST.getBytes(StandardCharsets.UTF_8), "after-stop"), sink);
    assertThat(sink.failure.get(5, TimeUnit.SECONDS)).as("an exchange on the closed client").isEqualTo("relay_closed");
  }

  @Test
  void withoutAPrefixSettingTheRelayIsMountedAtLlmAndNowhereElse() throws Exception {
    LlmRelayContextListener listener = new LlmRelayContextListener();
    try (JettyRelay relay = JettyRelay.start(context -> {
      params(context, Map.of("UPSTREAM_BASE_URL", "http://127.0.0.1:" + upstream.getPort() + "/v1"));
      context.addEventListener(listener);
    })) {
      try (Response health = http.newCall(new Request.Builder().url(relay.url("/llm/health")).build()).execute()) {
        assertThat(health.code()).as("/llm/health").isEqualTo(200);
      }
      try (Response root = http.newCall(new Request.Builder().url(relay.url("/health")).build()).execute()) {
        assertThat(root.code()).as("/health is not the relay's").isEqualTo(404);
        assertThat(root.body().string()).doesNotContain("proxy_error");
      }
    }
  }

  @Test
  void anInvalidSettingFailsTheStartNamingItWithoutAKeyAndLeavesNothingRunning() throws Exception {
    Path dotenv = dir.resolve("relay.env");
    Files.writeString(dotenv, "UPSTREAM_API_KEY=sk-listener-secret-42\n");
    Set<Thread> before = Thread.getAllStackTraces().keySet();

    assertThatThrownBy(() -> JettyRelay.start(context -> {
          params(context, Map.of("LLMRELAY_DOTENV", dotenv.toString(), "MAX_CONCURRENT_REQUESTS", "-1"));
          context.addEventListener(new LlmRelayContextListener());
        }).close())
        .hasStackTraceContaining("llmrelay cannot start in /: Invalid MAX_CONCURRENT_REQUESTS")
        .satisfies(e -> assertThat(stackTrace(e)).doesNotContain("sk-listener-secret-42"));
    assertThat(relayThreads(before)).as("relay threads").isEmpty();
  }

  @Test
  void aMountThatFailsClosesTheClientItCreated() throws Exception {
    // Given an application that already has a servlet by the relay's name
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    assertThatThrownBy(() -> JettyRelay.start(context -> {
          params(context, Map.of("UPSTREAM_BASE_URL", "http://127.0.0.1:" + upstream.getPort() + "/v1", "HEALTH_INTERVAL_SECONDS", "0"));
          ServletHolder taken = new ServletHolder(new AppContainer.AppServlet());
          taken.setName(LlmRelayServlets.RELAY_SERVLET_NAME);
          context.getServletHandler().addServletWithMapping(taken, "/other/*");
          context.addEventListener(new LlmRelayContextListener());
        }).close())
        .hasStackTraceContaining("llmrelay cannot start in /");
    assertThat(relayThreads(before)).as("relay threads of the client made before the mount failed").isEmpty();
  }

  private static String stackTrace(Throwable e) {
    java.io.StringWriter out = new java.io.StringWriter();
    e.printStackTrace(new java.io.PrintWriter(out));
    return out.toString();
  }

  /** Records only how an exchange failed. */
  private static final class RecordingClientSink implements dev.llmrelay.core.ResponseSink {
    final java.util.concurrent.CompletableFuture<String> failure = new java.util.concurrent.CompletableFuture<>();

    @Override
    public void onResponse(int status, Map<String, List<String>> headers) {}

    @Override
    public void onBody(byte[] buffer, int offset, int length) {}

    @Override
    public void flush() {}

    @Override
    public void onComplete() {
      failure.complete("completed");
    }

    @Override
    public void onFailure(dev.llmrelay.core.RelayException error) {
      failure.complete(error.code());
    }
  }
}
