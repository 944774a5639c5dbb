package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import dev.llmrelay.servlet.AppContainer.AppServletMapping;
import dev.llmrelay.servlet.AppContainer.Kind;
import jakarta.servlet.ServletContext;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.HttpUrl;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 12, point 1: the relay dropped into an existing web application under a prefix it
 * chooses, in Jetty and in Tomcat. The application's static page (the container's default
 * servlet, a real file), its own servlet and its own 404 keep working; the relay answers below its
 * prefix only, its JSON 404 included.
 */
class PrefixMountTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  @RegisterExtension final LeakCheck leaks = new LeakCheck();
  @TempDir Path docBase;
  @TempDir Path workDir;

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

  private Response get(HttpUrl url) throws IOException {
    return http.newCall(new Request.Builder().url(url).build()).execute();
  }

  private Response postChat(HttpUrl url) throws IOException {
    return http.newCall(new Request.Builder().url(url).post(TestHttp.json(Upstreams.CHAT_REQUEST)).build()).execute();
  }

  private static String errorCode(String body) throws IOException {
    JsonNode json = MAPPER.readTree(body);
    return json.at("/error/code").asText();
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(Kind.class)
  void theRelayWorksUnderItsPrefixBesideTheApplicationsOwnPageAndServlet(Kind kind) throws Exception {
    UpstreamClient client = leaks.client(Upstreams.config(upstream).build());
    // Given an application with a static page and its own servlet at /api/*, and the relay under /llm
    try (AppContainer app = AppContainer.start(kind, docBase, workDir, AppServletMapping.API,
        context -> LlmRelayServlets.mount(context, "/llm", client, List.of()))) {

      // Then a chat completion passes through the relay below the prefix
      upstream.enqueue(Upstreams.chatJson());
      try (Response chat = postChat(app.url("/llm/v1/chat/completions"))) {
        assertThat(chat.code()).as("chat status").isEqualTo(200);
        assertThat(chat.body().string()).as("chat body").isEqualTo(Upstreams.CHAT_JSON);
      }
      RecordedRequest relayed = upstream.takeRequest(1, TimeUnit.SECONDS);
      assertThat(relayed.getTarget()).as("upstream path: the prefix is not sent on").isEqualTo("/v1/chat/completions");

      // And the health endpoints answer below the prefix
      try (Response health = get(app.url("/llm/health"))) {
        assertThat(health.code()).as("liveness").isEqualTo(200);
        assertThat(MAPPER.readTree(health.body().string()).at("/status").asText()).as("liveness status").isEqualTo("ok");
      }
      upstream.enqueue(new mockwebserver3.MockResponse.Builder().code(200).body("{\"data\":[]}").build());
      try (Response health = get(app.url("/llm/health/upstream"))) {
        assertThat(health.code()).as("upstream health").isEqualTo(200);
        assertThat(MAPPER.readTree(health.body().string()).at("/upstream").asText()).as("upstream state").isEqualTo("reachable");
      }
      assertThat(upstream.takeRequest(1, TimeUnit.SECONDS).getTarget()).as("the probe").isEqualTo("/v1/models");

      // And an unknown path below the prefix gets the relay's JSON 404
      try (Response unknown = get(app.url("/llm/v2/nothing"))) {
        assertThat(unknown.code()).as("unknown path below the prefix").isEqualTo(404);
        assertThat(unknown.header("Content-Type")).as("content type").startsWith("application/json");
        assertThat(errorCode(unknown.body().string())).as("error code").isEqualTo("not_found");
      }
      try (Response bare = get(app.url("/llm"))) {
        assertThat(bare.code()).as("the prefix itself").isEqualTo(404);
        assertThat(errorCode(bare.body().string())).as("the prefix itself: the relay's 404").isEqualTo("not_found");
      }

      // And the application's own content is untouched
      try (Response page = get(app.url("/index.html"))) {
        assertThat(page.code()).as("static page").isEqualTo(200);
        assertThat(page.body().string()).as("static page body").isEqualTo(AppContainer.STATIC_PAGE);
      }
      try (Response own = get(app.url("/api/orders"))) {
        assertThat(own.code()).as("the application's servlet").isEqualTo(200);
        assertThat(own.body().string()).as("the application's servlet body").isEqualTo("app servlet: /api/orders");
      }
      // And paths outside the prefix are not the relay's, not even the relay's own endpoints
      for (String outside : List.of("/missing.html", "/v1/models", "/health", "/llmx/v1/models")) {
        try (Response notOurs = get(app.url(outside))) {
          assertThat(notOurs.code()).as("%s: the container's 404", outside).isEqualTo(404);
          assertThat(notOurs.body().string()).as("%s: not the relay's JSON", outside).doesNotContain("proxy_error");
        }
      }
      assertThat(upstream.getRequestCount()).as("upstream requests: the chat and the probe only").isEqualTo(2);
      leaks.assertReleased(client);
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(Kind.class)
  void anApplicationFrontControllerAtSlashStarKeepsEverythingOutsideThePrefix(Kind kind) throws Exception {
    UpstreamClient client = leaks.client(Upstreams.config(upstream).build());
    // Given an application whose own servlet takes /* (a front controller), and the relay under /api/llm
    try (AppContainer app = AppContainer.start(kind, docBase, workDir, AppServletMapping.FRONT_CONTROLLER,
        context -> LlmRelayServlets.mount(context, "/api/llm", client, List.of()))) {

      // Then mounting did not conflict, and the longer prefix mapping wins below /api/llm
      upstream.enqueue(Upstreams.chatJson());
      try (Response chat = postChat(app.url("/api/llm/v1/chat/completions"))) {
        assertThat(chat.code()).as("chat status").isEqualTo(200);
        assertThat(chat.body().string()).as("chat body").isEqualTo(Upstreams.CHAT_JSON);
      }
      try (Response health = get(app.url("/api/llm/health"))) {
        assertThat(health.code()).as("liveness below the prefix").isEqualTo(200);
      }
      try (Response unknown = get(app.url("/api/llm/nothing"))) {
        assertThat(errorCode(unknown.body().string())).as("the relay's 404 below the prefix").isEqualTo("not_found");
      }
      // And the front controller still answers everything else
      for (String path : List.of("/", "/index.html", "/api/orders", "/v1/chat/completions", "/api/llmx")) {
        try (Response own = get(app.url(path))) {
          assertThat(own.code()).as("%s", path).isEqualTo(200);
          assertThat(own.body().string()).as("%s", path).startsWith("app servlet: ");
        }
      }
      assertThat(upstream.getRequestCount()).as("upstream requests").isEqualTo(1);
      leaks.assertReleased(client);
    }
  }

  @ParameterizedTest(name = "\"{0}\"")
  @ValueSource(strings = {"llm", "/llm/", "/llm/*", "/*", "/l*m", "//llm", "/llm//x", "/./llm", "/../llm", "/l m", "/llm?x", "/llm#x", "/llm;x"})
  void anInvalidPrefixIsRefusedBeforeAnythingIsRegistered(String prefix) {
    UpstreamClient client = leaks.client(Upstreams.config(upstream).build());
    ServletContext untouchable = (ServletContext) Proxy.newProxyInstance(
        getClass().getClassLoader(), new Class<?>[] {ServletContext.class}, (proxy, method, args) -> {
          throw new AssertionError("the context was touched: " + method.getName());
        });

    assertThatThrownBy(() -> LlmRelayServlets.mount(untouchable, prefix, client, List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("invalid path prefix")
        .hasMessageContaining("for example \"/llm\"");
  }

  @Test
  void rootAndSlashBothMeanTheRootAndAPrefixStripsOnlyBelowItself() {
    assertThat(dev.llmrelay.servlet.internal.PathPrefix.of("").isRoot()).as("\"\"").isTrue();
    assertThat(dev.llmrelay.servlet.internal.PathPrefix.of("/").isRoot()).as("\"/\"").isTrue();
    var llm = dev.llmrelay.servlet.internal.PathPrefix.of("/llm");
    assertThat(llm.strip("/llm/v1/models")).isEqualTo("/v1/models");
    assertThat(llm.strip("/llm")).isEqualTo("/");
    assertThat(llm.strip("/llmx/v1/models")).as("a longer segment is not below /llm").isNull();
    assertThat(llm.strip("/v1/models")).isNull();
    assertThat(dev.llmrelay.servlet.internal.PathPrefix.of("/a/b-c_d.e~1").mapping("/*")).isEqualTo("/a/b-c_d.e~1/*");
  }

  @Test
  void webXmlServletsTakeTheirPrefixAndUpstreamFromTheContextParametersAndShareOneClient() throws Exception {
    // Given the two servlets declared the web.xml way (no-argument), mapped below /llm
    org.eclipse.jetty.ee10.servlet.ServletHolder relayHolder =
        new org.eclipse.jetty.ee10.servlet.ServletHolder(RelayServlet.class);
    relayHolder.setInitOrder(1);
    relayHolder.setAsyncSupported(true);
    org.eclipse.jetty.ee10.servlet.ServletHolder healthHolder =
        new org.eclipse.jetty.ee10.servlet.ServletHolder(HealthServlet.class);
    healthHolder.setInitOrder(2);
    healthHolder.setAsyncSupported(true);
    UpstreamClient created;
    try (JettyRelay relay = JettyRelay.start(context -> {
      context.setInitParameter("LLMRELAY_PATH_PREFIX", "/llm");
      context.setInitParameter("UPSTREAM_BASE_URL", "http://127.0.0.1:" + upstream.getPort() + "/v1");
      context.addServlet(relayHolder, "/llm/*");
      context.addServlet(healthHolder, "/llm/health");
      context.addServlet(healthHolder, "/llm/health/upstream");
    })) {
      created = ((RelayServlet) relayHolder.getServlet()).client();

      // Then both answer below the prefix, through the one client the relay servlet created
      upstream.enqueue(Upstreams.chatJson());
      try (Response chat = postChat(relay.url("/llm/v1/chat/completions"))) {
        assertThat(chat.code()).as("chat").isEqualTo(200);
      }
      try (Response health = get(relay.url("/llm/health"))) {
        assertThat(health.code()).as("liveness").isEqualTo(200);
      }
      try (Response outside = get(relay.url("/v1/models"))) {
        assertThat(outside.code()).as("outside the prefix").isEqualTo(404);
        assertThat(outside.body().string()).doesNotContain("proxy_error");
      }
      assertThat(created.config().upstreamBaseUrl().getPort()).as("upstream from the context-param").isEqualTo(upstream.getPort());
      leaks.assertReleased(created);
    }
  }
}
