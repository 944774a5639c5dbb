package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.InternalServerException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The official OpenAI Java SDK pointed at the relay (in a real Jetty 12) works unchanged. */
class OpenAiSdkTest {
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private static final ChatCompletionCreateParams PARAMS =
      ChatCompletionCreateParams.builder().model("test-model").addUserMessage("Hi").build();

  private MockWebServer upstream;
  private UpstreamClient client;
  private JettyRelay relay;
  private OpenAIClient openai;

  @BeforeEach
  void start() throws Exception {
    upstream = Upstreams.start();
    client = leaks.client(Upstreams.config(upstream).upstreamApiKey("sk-upstream-sdk-test").build());
    relay = JettyRelay.mount(client);
  }

  private OpenAIClient sdk(int maxRetries) {
    openai =
        OpenAIOkHttpClient.builder()
            .baseUrl("http://127.0.0.1:" + relay.port() + "/v1")
            .apiKey("sk-test")
            .maxRetries(maxRetries)
            .timeout(Duration.ofSeconds(10))
            .build();
    return openai;
  }

  @AfterEach
  void stop() throws Exception {
    try {
      if (openai != null) {
        openai.close();
      }
      relay.close();
    } finally {
      upstream.close();
    }
  }

  @Test
  void sdkChatCompletionWorksThroughTheRelay() throws Exception {
    upstream.enqueue(Upstreams.chatJson());

    ChatCompletion completion = sdk(0).chat().completions().create(PARAMS);

    assertThat(completion.id()).as("id").isEqualTo("chatcmpl-1");
    assertThat(completion.choices().get(0).message().content()).as("content").contains("Hello!");
    RecordedRequest upstreamRequest = upstream.takeRequest(1, TimeUnit.SECONDS);
    assertThat(upstreamRequest.getTarget()).as("upstream path").isEqualTo("/v1/chat/completions");
    assertThat(upstreamRequest.getHeaders().get("Authorization"))
        .as("the SDK's key is replaced by the upstream key")
        .isEqualTo("Bearer sk-upstream-sdk-test");
  }

  @Test
  void sdkStreamedChatCompletionWorksThroughTheRelay() throws Exception {
    upstream.enqueue(
        Upstreams.sse(
            SseBodies.gated(
                List.of(Upstreams.chunk("Hel"), Upstreams.chunk("lo"), Upstreams.finalChunk(), Upstreams.DONE), List.of())));

    String text;
    try (StreamResponse<ChatCompletionChunk> stream = sdk(0).chat().completions().createStreaming(PARAMS)) {
      text =
          stream.stream()
              .flatMap(chunk -> chunk.choices().stream())
              .map(choice -> choice.delta().content().orElse(""))
              .collect(Collectors.joining());
    }

    assertThat(text).as("streamed text").isEqualTo("Hello");
    assertThat(upstream.takeRequest(1, TimeUnit.SECONDS).getBody().utf8()).as("stream flag upstream").contains("\"stream\":true");
  }

  @Test
  void upstream400SurfacesAsTheSdksBadRequestException() throws IOException {
    upstream.enqueue(
        new MockResponse.Builder()
            .code(400)
            .setHeader("Content-Type", "application/json")
            .body("{\"error\":{\"message\":\"Unknown model: nope\",\"type\":\"invalid_request_error\",\"param\":\"model\",\"code\":\"model_not_found\"}}")
            .build());

    assertThatThrownBy(() -> sdk(2).chat().completions().create(PARAMS))
        .as("SDK error for an upstream 400")
        .isInstanceOfSatisfying(BadRequestException.class, e -> {
          assertThat(e.statusCode()).as("status").isEqualTo(400);
          assertThat(e.code()).as("code").contains("model_not_found");
          assertThat(e.getMessage()).as("message").contains("Unknown model: nope");
        });
    assertThat(upstream.getRequestCount()).as("upstream requests (a 400 is never retried)").isEqualTo(1);
  }

  @Test
  void sdkDoesNotMultiplyTheRelaysRetriesAfterExhaustedUpstream5xx() {
    MockResponse cdnPage =
        new MockResponse.Builder().code(502).setHeader("Content-Type", "text/html").body("<html>bad gateway</html>").build();
    for (int i = 0; i < 9; i++) {
      upstream.enqueue(cdnPage);
    }

    // The SDK would retry a 502 twice itself; x-should-retry: false from the relay stops it.
    assertThatThrownBy(() -> sdk(2).chat().completions().create(PARAMS))
        .as("SDK error for exhausted upstream 502s")
        .isInstanceOfSatisfying(InternalServerException.class, e -> {
          assertThat(e.statusCode()).as("status").isEqualTo(502);
          assertThat(e.code()).as("code").contains("upstream_error");
        });
    assertThat(upstream.getRequestCount())
        .as("upstream requests: the relay's 3 attempts, not 3 x 3")
        .isEqualTo(3);
  }
}
