package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.ResponseSink;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockWebServer;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import okio.BufferedSource;
import org.apache.catalina.Context;
import org.apache.catalina.startup.Tomcat;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The servlets mount three ways: programmatically with a {@link RelayConfig} or an existing
 * {@link UpstreamClient}, through a {@code ServletContainerInitializer} (the WAR way) in embedded
 * Jetty 12, and in embedded Tomcat 11, which proves they use nothing but the Servlet API.
 */
class MountingTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /**
   * Used for its check alone, called where everything must be back: these tests are about who
   * closes a client (the servlet that created it, on destroy, or the test's try-with-resources),
   * so each client is closed inside the test, before an after-test check could see it.
   */
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private MockWebServer upstream;
  private final OkHttpClient http = TestHttp.client();

  @TempDir Path tomcatDir;

  @BeforeEach
  void startUpstream() throws IOException {
    upstream = Upstreams.start();
  }

  @AfterEach
  void stopUpstream() {
    TestHttp.close(http);
    upstream.close();
  }

  private Response postChat(okhttp3.HttpUrl url, String body) throws IOException {
    return http.newCall(new Request.Builder().url(url).post(TestHttp.json(body)).build()).execute();
  }

  @Test
  void relayServletBuiltFromConfigOwnsItsClientAndClosesItOnDestroy() throws Exception {
    RelayServlet servlet = new RelayServlet(Upstreams.config(upstream).build());
    UpstreamClient owned = servlet.client();
    upstream.enqueue(Upstreams.chatJson());
    try (JettyRelay relay =
        JettyRelay.start(context -> {
          context.addServlet(new ServletHolder(servlet), "/v1/*");
          context.addServlet(new ServletHolder(new HealthServlet(owned)), "/health/*");
        })) {
      try (Response response = postChat(relay.url("/v1/chat/completions"), Upstreams.CHAT_REQUEST)) {
        assertThat(response.code()).as("chat through a /v1/* mapping").isEqualTo(200);
        assertThat(response.body().string()).as("body").isEqualTo(Upstreams.CHAT_JSON);
      }
      try (Response response = http.newCall(new Request.Builder().url(relay.url("/v1/other")).build()).execute()) {
        assertThat(response.code()).as("unknown path under /v1/*").isEqualTo(404);
      }
      leaks.assertReleased(owned);
    }
    assertThat(startDirectly(owned).code()).as("the owned client after the servlet was destroyed").isEqualTo("relay_closed");
  }

  @Test
  void relayServletOverAnExistingClientLeavesItOpen() throws Exception {
    try (UpstreamClient client = UpstreamClient.create(Upstreams.config(upstream).build())) {
      upstream.enqueue(Upstreams.chatJson());
      upstream.enqueue(Upstreams.chatJson());
      try (JettyRelay relay =
          JettyRelay.start(context -> context.addServlet(new ServletHolder(new RelayServlet(client)), "/"))) {
        try (Response response = postChat(relay.url("/v1/chat/completions"), Upstreams.CHAT_REQUEST)) {
          assertThat(response.code()).as("status").isEqualTo(200);
        }
      }
      try (JettyRelay again =
          JettyRelay.start(context -> context.addServlet(new ServletHolder(new RelayServlet(client)), "/"))) {
        try (Response response = postChat(again.url("/v1/chat/completions"), Upstreams.CHAT_REQUEST)) {
          assertThat(response.code()).as("the same client after the first servlet was destroyed").isEqualTo(200);
        }
      }
      leaks.assertReleased(client);
    }
  }

  @Test
  void servletContainerInitializerMountsBothServletsInJetty() throws Exception {
    try (UpstreamClient client = UpstreamClient.create(Upstreams.config(upstream).build())) {
      upstream.enqueue(Upstreams.chatJson());
      try (JettyRelay relay =
          JettyRelay.start(context ->
              context.addServletContainerInitializer((classes, servletContext) -> LlmRelayServlets.mount(servletContext, client)))) {
        try (Response chat = postChat(relay.url("/v1/chat/completions"), Upstreams.CHAT_REQUEST);
            Response health = http.newCall(new Request.Builder().url(relay.url("/health")).build()).execute();
            Response unknown = http.newCall(new Request.Builder().url(relay.url("/favicon.ico")).build()).execute()) {
          assertThat(chat.code()).as("chat").isEqualTo(200);
          assertThat(health.code()).as("health").isEqualTo(200);
          assertThat(unknown.code()).as("any unknown path").isEqualTo(404);
          assertThat(MAPPER.readTree(unknown.body().string()).at("/error/code").asText())
              .as("the relay is the JSON 404 of the whole application")
              .isEqualTo("not_found");
        }
      }
      leaks.assertReleased(client);
    }
  }

  @Test
  void healthServletDeclaredWithoutClientUsesTheContextAttribute() throws Exception {
    try (UpstreamClient client = UpstreamClient.create(Upstreams.config(upstream).build())) {
      try (JettyRelay relay =
          JettyRelay.start(context -> {
            context.setAttribute(LlmRelayServlets.CLIENT_ATTRIBUTE, client);
            ServletHolder health = new ServletHolder(HealthServlet.class);
            health.setAsyncSupported(true);
            context.addServlet(health, "/health/*");
          })) {
        try (Response response = http.newCall(new Request.Builder().url(relay.url("/health")).build()).execute()) {
          assertThat(response.code()).as("web.xml-style health servlet").isEqualTo(200);
        }
      }
      leaks.assertReleased(client);
    }
  }

  @Test
  void webXmlStyleServletsReadTheEnvironmentShareOneClientAndCloseIt() throws Exception {
    // surefire sets UPSTREAM_BASE_URL to a closed loopback port and turns the heartbeat off
    assumeTrue(
        "http://127.0.0.1:1/v1".equals(System.getenv("UPSTREAM_BASE_URL")),
        "needs the surefire environment (no test may reach a real upstream)");
    ServletHolder relayHolder = new ServletHolder(RelayServlet.class);
    relayHolder.setInitOrder(1);
    relayHolder.setAsyncSupported(true);
    ServletHolder healthHolder = new ServletHolder(HealthServlet.class);
    healthHolder.setInitOrder(2);
    healthHolder.setAsyncSupported(true);
    UpstreamClient created;
    try (JettyRelay relay =
        JettyRelay.start(context -> {
          context.addServlet(relayHolder, "/");
          context.addServlet(healthHolder, "/health/*");
        })) {
      created = ((RelayServlet) relayHolder.getServlet()).client();
      assertThat(created.config().upstreamBaseUrl()).as("configuration from the environment").hasToString("http://127.0.0.1:1/v1");
      try (Response models = http.newCall(new Request.Builder().url(relay.url("/v1/models")).build()).execute();
          Response health = http.newCall(new Request.Builder().url(relay.url("/health")).build()).execute()) {
        assertThat(models.code()).as("models against a closed port").isEqualTo(502);
        assertThat(MAPPER.readTree(models.body().string()).at("/error/code").asText()).as("code").isEqualTo("upstream_unreachable");
        assertThat(health.code()).as("health servlet on the relay's shared client").isEqualTo(200);
      }
      leaks.assertReleased(created);
    }
    assertThat(startDirectly(created).code()).as("the servlet's own client after destroy").isEqualTo("relay_closed");
  }

  @Test
  void sameChatTestPassesInTomcat() throws Exception {
    try (UpstreamClient client = UpstreamClient.create(Upstreams.config(upstream).build())) {
      // Given the relay servlet added to an embedded Tomcat 11 the classic way
      try (TomcatRelay tomcat =
          TomcatRelay.start(tomcatDir, context -> {
            Tomcat.addServlet(context, "relay", new RelayServlet(client)).setAsyncSupported(true);
            context.addServletMapping("/", "relay");
          })) {
        // Then a JSON chat completion passes byte-identical
        byte[] upstreamBody = (Upstreams.CHAT_JSON + "\n").getBytes(StandardCharsets.UTF_8);
        upstream.enqueue(
            new mockwebserver3.MockResponse.Builder()
                .setHeader("Content-Type", "application/json")
                .setHeader("X-Generation-Id", "gen-tomcat")
                .body(new okio.Buffer().write(upstreamBody))
                .build());
        try (Response response =
            http.newCall(
                    new Request.Builder()
                        .url(tomcat.url("/v1/chat/completions"))
                        .header("X-Request-Id", "tomcat-1")
                        .post(TestHttp.json(Upstreams.CHAT_REQUEST))
                        .build())
                .execute()) {
          assertThat(response.code()).as("status").isEqualTo(200);
          assertThat(response.body().bytes()).as("body").isEqualTo(upstreamBody);
          assertThat(response.header("X-Request-Id")).as("request id").isEqualTo("tomcat-1");
          assertThat(response.header("X-Generation-Id")).as("end-to-end header").isEqualTo("gen-tomcat");
        }
        assertThat(upstream.takeRequest(1, TimeUnit.SECONDS).getBody().utf8()).as("upstream body").isEqualTo(Upstreams.CHAT_REQUEST);

        // And a stream arrives event by event
        CountDownLatch clientReadFirst = new CountDownLatch(1);
        upstream.enqueue(
            Upstreams.sse(
                SseBodies.gated(
                    List.of(Upstreams.chunk("Tom"), Upstreams.finalChunk() + Upstreams.DONE),
                    Arrays.asList(null, clientReadFirst))));
        try (Response response =
            postChat(tomcat.url("/v1/chat/completions"), "{\"model\":\"m\",\"stream\":true,\"messages\":[]}")) {
          assertThat(response.header("Content-Type")).as("stream content type").startsWith("text/event-stream");
          BufferedSource source = response.body().source();
          assertThat(source.readUtf8Line()).as("first event, read while the rest is gated").contains("\"Tom\"");
          clientReadFirst.countDown();
          assertThat(response.body().string()).as("rest of the stream").contains("[DONE]");
        }

        // And refusals are the same JSON errors
        try (Response response = http.newCall(new Request.Builder().url(tomcat.url("/v1/chat/completions")).build()).execute()) {
          assertThat(response.code()).as("GET on chat").isEqualTo(405);
          assertThat(response.header("Allow")).as("Allow").isEqualTo("POST");
          assertThat(MAPPER.readTree(response.body().string()).at("/error/code").asText()).as("code").isEqualTo("method_not_allowed");
        }
        try (Response response = postChat(tomcat.url("/v1/chat/completions"), "not json")) {
          assertThat(response.code()).as("bad JSON").isEqualTo(400);
        }
        assertThat(upstream.getRequestCount()).as("upstream requests").isEqualTo(2);
        leaks.assertReleased(client);
      }
    }
  }

  @Test
  void servletContainerInitializerMountsBothServletsInTomcat() throws Exception {
    try (UpstreamClient client = UpstreamClient.create(Upstreams.config(upstream).build())) {
      upstream.enqueue(Upstreams.chatJson());
      upstream.enqueue(new mockwebserver3.MockResponse.Builder().code(200).body("{}").build());
      try (TomcatRelay tomcat =
          TomcatRelay.start(tomcatDir, (Context context) ->
              context.addServletContainerInitializer((classes, servletContext) -> LlmRelayServlets.mount(servletContext, client), null))) {
        try (Response chat = postChat(tomcat.url("/v1/chat/completions"), Upstreams.CHAT_REQUEST);
            Response upstreamHealth = http.newCall(new Request.Builder().url(tomcat.url("/health/upstream")).build()).execute();
            Response unknown = http.newCall(new Request.Builder().url(tomcat.url("/nope")).build()).execute()) {
          assertThat(chat.code()).as("chat").isEqualTo(200);
          assertThat(upstreamHealth.code()).as("health/upstream").isEqualTo(200);
          assertThat(MAPPER.readTree(upstreamHealth.body().string()).path("upstream").asText()).as("upstream").isEqualTo("reachable");
          assertThat(unknown.code()).as("unknown").isEqualTo(404);
        }
        leaks.assertReleased(client);
      }
    }
  }

  /** Starts an exchange on {@code client} without any servlet and returns the error it ends with. */
  private static RelayException startDirectly(UpstreamClient client) throws Exception {
    CompletableFuture<RelayException> failure = new CompletableFuture<>();
    client.start(
        ClientRequest.of(Endpoint.MODELS, new byte[0], "direct-1"),
        new ResponseSink() {
          @Override
          public void onResponse(int status, Map<String, List<String>> headers) {
            failure.completeExceptionally(new AssertionError("unexpected response " + status));
          }

          @Override
          public void onBody(byte[] buffer, int offset, int length) {}

          @Override
          public void flush() {}

          @Override
          public void onComplete() {}

          @Override
          public void onFailure(RelayException error) {
            failure.complete(error);
          }
        });
    return failure.get(2, TimeUnit.SECONDS);
  }
}
