package dev.llmrelay.example.simulate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import okhttp3.Call;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okio.BufferedSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SimulatedUpstreamTest {
  private static final MediaType JSON_TYPE = MediaType.get("application/json");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String CHAT = "{\"model\":\"test/model-a\",\"messages\":"
      + "[{\"role\":\"user\",\"content\":\"Say something.\"}]}";
  private static final String CHAT_STREAM = "{\"model\":\"test/model-a\",\"stream\":true,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Say something.\"}]}";
  /** Answers at once and never fails unless a request asks: each test adds what it needs. */
  private static final SimulatorConfig QUIET =
      SimulatorConfig.builder().seed(1).latency(Duration.ZERO).noFaults().build();

  /** One client for all tests; it must not replay POSTs, so faults reach the test unaltered. */
  private static final OkHttpClient client = new OkHttpClient.Builder()
      .retryOnConnectionFailure(false)
      .readTimeout(Duration.ofSeconds(10))
      .build();

  private final List<SimulatedUpstream> started = new ArrayList<>();

  @AfterEach
  void closeUpstreamsQuickly() {
    for (SimulatedUpstream upstream : started) {
      long start = System.nanoTime();
      upstream.close();
      assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time to close")
          .isLessThan(Duration.ofSeconds(2));
    }
    client.connectionPool().evictAll();
  }

  @AfterAll
  static void shutDownClient() {
    client.dispatcher().executorService().shutdown();
    client.connectionPool().evictAll();
  }

  @Test
  void nonStreamingChatCompletionEchoesTheModelAndReportsUsage() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    try (Response response = client.newCall(post(upstream, "/chat/completions", CHAT)).execute()) {
      JsonNode body = JSON.readTree(response.body().string());

      assertThat(response.code()).as("status").isEqualTo(200);
      assertThat(response.header("Content-Type")).as("content type").startsWith("application/json");
      assertThat(response.header(SimulatedUpstream.ANSWER_HEADER)).as("answer header")
          .isEqualTo("ok");
      assertThat(body.path("object").asText()).as("object").isEqualTo("chat.completion");
      assertThat(body.path("id").asText()).as("id").isNotBlank();
      assertThat(body.path("created").asLong()).as("created").isPositive();
      assertThat(body.path("model").asText()).as("echoed model").isEqualTo("test/model-a");
      JsonNode choice = body.path("choices").path(0);
      assertThat(choice.path("message").path("role").asText()).as("role").isEqualTo("assistant");
      assertThat(choice.path("message").path("content").asText()).as("content").isNotBlank();
      assertThat(choice.path("finish_reason").asText()).as("finish_reason").isEqualTo("stop");
      JsonNode usage = body.path("usage");
      assertThat(usage.path("prompt_tokens").asInt()).as("prompt_tokens").isPositive();
      assertThat(usage.path("completion_tokens").asInt()).as("completion_tokens").isPositive();
      assertThat(usage.path("total_tokens").asInt()).as("total_tokens")
          .isEqualTo(usage.path("prompt_tokens").asInt() + usage.path("completion_tokens").asInt());
    }
  }

  @Test
  void requestWithoutModelIsAnsweredAsSimulatedModel() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    JsonNode body = postForJson(upstream, "/chat/completions", "{\"messages\":[]}");

    assertThat(body.path("model").asText()).as("default model").isEqualTo("simulated-model");
  }

  @Test
  void streamedChatCompletionSendsCommentThenSpreadOutChunksThenDone() throws IOException {
    SimulatedUpstream upstream = start(QUIET.toBuilder()
        .streamChunks(6).chunkDelay(Duration.ofMillis(80)).build());
    List<String> lines = new ArrayList<>();
    List<Long> dataArrivalMillis = new ArrayList<>();

    long start = System.nanoTime();
    try (Response response =
        client.newCall(post(upstream, "/chat/completions", CHAT_STREAM)).execute()) {
      assertThat(response.code()).as("status").isEqualTo(200);
      assertThat(response.header("Content-Type")).as("content type")
          .startsWith("text/event-stream");
      assertThat(response.header("Content-Length")).as("content length of a stream").isNull();
      BufferedSource source = response.body().source();
      String line;
      while ((line = source.readUtf8Line()) != null) {
        lines.add(line);
        if (line.startsWith("data: ")) {
          dataArrivalMillis.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        }
      }
    }

    List<String> data = lines.stream().filter(l -> l.startsWith("data: ")).toList();
    assertThat(lines.get(0)).as("first line").isEqualTo(": OPENROUTER PROCESSING");
    assertThat(data).as("6 chunk events and [DONE]").hasSize(7);
    assertThat(data.get(6)).as("last data line").isEqualTo("data: [DONE]");
    List<JsonNode> chunks = new ArrayList<>();
    for (String event : data.subList(0, 6)) {
      chunks.add(JSON.readTree(event.substring("data: ".length())));
    }
    assertThat(chunks).extracting(c -> c.path("object").asText()).as("object of every chunk")
        .containsOnly("chat.completion.chunk");
    assertThat(chunks).extracting(c -> c.path("model").asText()).as("model of every chunk")
        .containsOnly("test/model-a");
    assertThat(chunks.get(0).at("/choices/0/delta/role").asText()).as("first delta's role")
        .isEqualTo("assistant");
    JsonNode last = chunks.get(5);
    assertThat(last.at("/choices/0/finish_reason").asText()).as("final finish_reason")
        .isEqualTo("stop");
    assertThat(last.at("/usage/completion_tokens").asInt()).as("final usage").isEqualTo(4);
    StringBuilder content = new StringBuilder();
    chunks.forEach(c -> content.append(c.at("/choices/0/delta/content").asText()));
    assertThat(content.toString()).as("streamed content equals the non-streamed answer")
        .isEqualTo(postForJson(upstream, "/chat/completions", CHAT)
            .at("/choices/0/message/content").asText());
    long spread = dataArrivalMillis.get(5) - dataArrivalMillis.get(0);
    assertThat(spread).as("ms between first and last chunk (5 gaps of 80 ms)")
        .isGreaterThanOrEqualTo(300);
  }

  @Test
  void textCompletionStreamsTextCompletionChunks() throws IOException {
    SimulatedUpstream upstream = start(QUIET.toBuilder().streamChunks(3).chunkDelay(Duration.ZERO)
        .build());

    JsonNode plain = postForJson(upstream, "/completions", "{\"model\":\"m\",\"prompt\":\"Hi\"}");
    String streamed;
    try (Response response = client.newCall(post(upstream, "/completions",
        "{\"model\":\"m\",\"prompt\":\"Hi\",\"stream\":true}")).execute()) {
      streamed = response.body().string();
    }

    assertThat(plain.path("object").asText()).as("object").isEqualTo("text_completion");
    assertThat(plain.at("/choices/0/text").asText()).as("text").isNotBlank();
    assertThat(plain.at("/choices/0/finish_reason").asText()).as("finish_reason").isEqualTo("stop");
    assertThat(streamed).as("streamed text completion")
        .startsWith(": OPENROUTER PROCESSING\n\n")
        .contains("\"object\":\"text_completion\"")
        .contains("\"finish_reason\":\"stop\"")
        .endsWith("data: [DONE]\n\n");
  }

  @Test
  void embeddingsAnswerOneFixedVectorPerInput() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    JsonNode body =
        postForJson(upstream, "/embeddings", "{\"model\":\"e\",\"input\":[\"one\",\"two\"]}");

    assertThat(body.path("object").asText()).as("object").isEqualTo("list");
    assertThat(body.path("data")).as("one embedding per input").hasSize(2);
    assertThat(body.at("/data/1/embedding").size()).as("vector length").isEqualTo(8);
    assertThat(body.at("/data/0/embedding")).as("same vector for every input")
        .isEqualTo(body.at("/data/1/embedding"));
    assertThat(body.at("/usage/total_tokens").asInt()).as("usage").isPositive();
  }

  @Test
  void modelsAndKeyAnswer200() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    try (Response models = client.newCall(get(upstream, "/models")).execute();
        Response key = client.newCall(get(upstream, "/key")).execute()) {
      assertThat(models.code()).as("/v1/models status").isEqualTo(200);
      JsonNode modelList = JSON.readTree(models.body().string());
      assertThat(modelList.path("data").size()).as("models listed").isGreaterThanOrEqualTo(2);
      assertThat(modelList.at("/data/0/id").asText()).as("first model")
          .isEqualTo("simulated-model");
      assertThat(key.code()).as("/v1/key status").isEqualTo(200);
      assertThat(JSON.readTree(key.body().string())).as("/v1/key body")
          .isEqualTo(JSON.readTree(
              "{\"data\":{\"label\":\"simulated\",\"usage\":0,\"limit\":null}}"));
    }
  }

  @Test
  void bodyThatIsNotAJsonObjectGets400InvalidRequestError() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    for (String body : List.of("{not json", "[1,2]", "")) {
      Call call = client.newCall(post(upstream, "/chat/completions", body));
      try (Response response = call.execute()) {
        JsonNode error = JSON.readTree(response.body().string()).path("error");

        assertThat(response.code()).as("status for body '%s'", body).isEqualTo(400);
        assertThat(error.path("type").asText()).as("error type").isEqualTo("invalid_request_error");
        assertThat(error.path("message").asText()).as("error message").isNotBlank();
        assertThat(error.path("param").isNull()).as("param is null").isTrue();
        assertThat(error.path("code").isNull()).as("code is null").isTrue();
      }
    }
    assertThat(upstream.stats().count(SimulatedAnswer.INVALID_REQUEST)).as("counted").isEqualTo(3);
  }

  @Test
  void unknownPathGets404AndWrongMethodGets405() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    try (Response unknown = client.newCall(get(upstream, "/nothing")).execute();
        Response wrongMethod = client.newCall(get(upstream, "/chat/completions")).execute()) {
      assertThat(unknown.code()).as("unknown path").isEqualTo(404);
      assertThat(wrongMethod.code()).as("GET on chat").isEqualTo(405);
      assertThat(wrongMethod.header("Allow")).as("Allow header").isEqualTo("POST");
    }
  }

  @Test
  void timeoutFaultSendsNoHeadersAndIsReleasedWhenTheClientCancels() {
    SimulatedUpstream upstream = start(QUIET);
    Call call = client.newCall(post(upstream, "/chat/completions", CHAT, "timeout"));
    call.timeout().timeout(500, TimeUnit.MILLISECONDS);

    // When the client gives up after 500 ms without headers (OkHttp cancels the call)
    long start = System.nanoTime();
    assertThatThrownBy(call::execute).as("call without headers within 500 ms")
        .isInstanceOf(InterruptedIOException.class);

    // Then the server noticed the closed connection and let the request go
    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time until the client gave up")
        .isGreaterThanOrEqualTo(Duration.ofMillis(450));
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
      SimulatorStats stats = upstream.stats();
      assertThat(stats.activeRequests()).as("requests still held").isZero();
      assertThat(stats.clientAborts()).as("client aborts").isEqualTo(1);
      assertThat(stats.count(SimulatedAnswer.TIMEOUT)).as("timeouts").isEqualTo(1);
    });
  }

  @Test
  void timeoutFaultOnTheModelsEndpointIsAlsoReleasedWhenTheClientCancels() {
    SimulatedUpstream upstream = start(QUIET);
    Request request = get(upstream, "/models").newBuilder()
        .header(SimulatedUpstream.FAULT_HEADER, "timeout").build();
    Call call = client.newCall(request);
    call.timeout().timeout(300, TimeUnit.MILLISECONDS);

    assertThatThrownBy(call::execute).as("GET without headers within 300 ms")
        .isInstanceOf(InterruptedIOException.class);

    await().atMost(Duration.ofSeconds(2)).untilAsserted(() ->
        assertThat(upstream.stats().activeRequests()).as("requests still held").isZero());
    assertThat(upstream.stats().clientAborts()).as("client aborts").isEqualTo(1);
  }

  @Test
  void timeoutFaultClosesTheConnectionWhenTheHoldIsOver() {
    SimulatedUpstream upstream =
        start(QUIET.toBuilder().timeoutHold(Duration.ofMillis(300)).build());

    assertThatThrownBy(() -> client.newCall(post(upstream, "/chat/completions", CHAT, "timeout"))
            .execute())
        .as("call held for 300 ms and then dropped")
        .isInstanceOf(IOException.class)
        .isNotInstanceOf(InterruptedIOException.class);
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() ->
        assertThat(upstream.stats().activeRequests()).as("requests still held").isZero());
    assertThat(upstream.stats().clientAborts()).as("client aborts").isZero();
  }

  @Test
  void errorFaultAnswers5xxWithAnOpenAiShapedJsonError() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    try (Response response =
        client.newCall(post(upstream, "/chat/completions", CHAT, "error")).execute()) {
      JsonNode error = JSON.readTree(response.body().string()).path("error");

      assertThat(response.code()).as("status").isIn(500, 502, 503);
      assertThat(response.header("Content-Type")).as("content type").startsWith("application/json");
      assertThat(response.header(SimulatedUpstream.ANSWER_HEADER)).as("answer header")
          .isEqualTo("server-error");
      assertThat(error.path("type").asText()).as("error type").isEqualTo("server_error");
      assertThat(error.path("message").asText()).as("error message").isNotBlank();
    }
  }

  @Test
  void htmlErrorFaultAnswers502WithAnHtmlPage() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    try (Response response =
        client.newCall(post(upstream, "/chat/completions", CHAT, "html-error")).execute()) {
      assertThat(response.code()).as("status").isEqualTo(502);
      assertThat(response.header("Content-Type")).as("content type").startsWith("text/html");
      assertThat(response.body().string()).as("body").startsWith("<html>").contains("Bad Gateway");
    }
  }

  @Test
  void rateLimitFaultAnswers429WithRetryAfterOneSecond() throws IOException {
    SimulatedUpstream upstream = start(QUIET);

    try (Response response =
        client.newCall(post(upstream, "/chat/completions", CHAT, "rate-limit")).execute()) {
      JsonNode error = JSON.readTree(response.body().string()).path("error");

      assertThat(response.code()).as("status").isEqualTo(429);
      assertThat(response.header("Retry-After")).as("Retry-After").isEqualTo("1");
      assertThat(error.path("code").asText()).as("error code").isEqualTo("rate_limit_exceeded");
    }
  }

  @Test
  void cutFaultEndsTheStreamAbruptlyWithoutDone() throws IOException {
    SimulatedUpstream upstream = start(QUIET.toBuilder()
        .streamChunks(6).chunkDelay(Duration.ofMillis(20)).build());
    List<String> data = new ArrayList<>();
    IOException failure = null;

    try (Response response =
        client.newCall(post(upstream, "/chat/completions", CHAT_STREAM, "cut")).execute()) {
      assertThat(response.code()).as("status, sent before the cut").isEqualTo(200);
      BufferedSource source = response.body().source();
      String line;
      while ((line = source.readUtf8Line()) != null) {
        if (line.startsWith("data: ")) {
          data.add(line);
        }
      }
    } catch (IOException e) {
      failure = e;
    }

    assertThat(data).as("events before the cut (half of 6)").hasSize(3)
        .doesNotContain("data: [DONE]");
    assertThat(failure).as("the chunked body ends without its terminating chunk").isNotNull();
    assertThat(upstream.stats().count(SimulatedAnswer.CUT)).as("cuts counted").isEqualTo(1);
  }

  @Test
  void cutFaultTruncatesANonStreamingBody() {
    SimulatedUpstream upstream = start(QUIET);

    assertThatThrownBy(() -> {
      try (Response response =
          client.newCall(post(upstream, "/chat/completions", CHAT, "cut")).execute()) {
        response.body().string();
      }
    }).as("reading a body shorter than its Content-Length").isInstanceOf(IOException.class);
  }

  @Test
  void faultNoneOverridesTheConfiguredRates() throws IOException {
    SimulatedUpstream upstream = start(QUIET.toBuilder().errorRate(1).build());

    Call forcedCall = client.newCall(post(upstream, "/chat/completions", CHAT, "none"));
    Call drawnCall = client.newCall(post(upstream, "/chat/completions", CHAT));

    try (Response forced = forcedCall.execute(); Response drawn = drawnCall.execute()) {
      assertThat(forced.code()).as("status with X-Sim-Fault: none").isEqualTo(200);
      assertThat(drawn.code()).as("status left to an error rate of 1").isGreaterThanOrEqualTo(500);
    }
  }

  @Test
  void latencyHeaderDelaysTheResponseHeaders() throws IOException {
    SimulatedUpstream upstream = start(QUIET);
    Request request = post(upstream, "/chat/completions", CHAT).newBuilder()
        .header(SimulatedUpstream.LATENCY_HEADER, "400").build();

    long start = System.nanoTime();
    try (Response response = client.newCall(request).execute()) {
      assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time to headers")
          .isGreaterThanOrEqualTo(Duration.ofMillis(400));
      assertThat(response.code()).as("status").isEqualTo(200);
    }
  }

  @Test
  void malformedSimulatorHeadersGet400NamingTheHeader() throws IOException {
    SimulatedUpstream upstream = start(QUIET);
    Request badFault = post(upstream, "/chat/completions", CHAT, "explode");
    Request badLatency = post(upstream, "/chat/completions", CHAT).newBuilder()
        .header(SimulatedUpstream.LATENCY_HEADER, "-5").build();

    try (Response fault = client.newCall(badFault).execute();
        Response latency = client.newCall(badLatency).execute()) {
      assertThat(fault.code()).as("status for X-Sim-Fault: explode").isEqualTo(400);
      assertThat(fault.body().string()).as("message").contains("X-Sim-Fault");
      assertThat(latency.code()).as("status for X-Sim-Latency-Ms: -5").isEqualTo(400);
      assertThat(latency.body().string()).as("message").contains("X-Sim-Latency-Ms");
    }
  }

  @Test
  void errorRateOfOneHalfFailsBetween70And130Of200Requests() throws IOException {
    SimulatedUpstream upstream = start(QUIET.toBuilder().seed(20240601L).errorRate(0.5).build());

    int errors = 0;
    for (int i = 0; i < 200; i++) {
      Call call = client.newCall(post(upstream, "/chat/completions", CHAT));
      try (Response response = call.execute()) {
        response.body().string();
        if (response.code() >= 500) {
          errors++;
        }
      }
    }

    SimulatorStats stats = upstream.stats();
    assertThat(errors).as("5xx answers among 200").isBetween(70, 130);
    assertThat(stats.count(SimulatedAnswer.SERVER_ERROR) + stats.count(SimulatedAnswer.HTML_ERROR))
        .as("5xx answers counted").isEqualTo(errors);
    assertThat(stats.count(SimulatedAnswer.HTML_ERROR)).as("HTML pages among them").isPositive();
    assertThat(stats.count(SimulatedAnswer.OK)).as("good answers").isEqualTo(200 - errors);
  }

  @Test
  void sameSeedGivesTheSameSequenceOfAnswers() throws IOException {
    SimulatorConfig config = QUIET.toBuilder().seed(99).errorRate(0.3).rateLimitRate(0.3).build();

    List<String> first = answers(start(config), 40);
    List<String> second = answers(start(config), 40);

    assertThat(second).as("answers of a second simulator with the same seed").isEqualTo(first);
    assertThat(first).as("a mix of answers").contains("ok", "server-error", "rate-limited");
  }

  @Test
  void severalHundredSlowStreamsRunAtOnceWithoutAThreadEach() {
    // Each stream lasts 3 s, long enough for all of them to be connected at the same time
    SimulatedUpstream upstream = start(QUIET.toBuilder()
        .streamChunks(10).chunkDelay(Duration.ofMillis(300)).build());
    HttpClient httpClient = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    URI chat = URI.create(upstream.baseUrl() + "/chat/completions");
    HttpRequest request = HttpRequest.newBuilder(chat)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(CHAT_STREAM))
        .build();
    int streams = 300;

    List<CompletableFuture<HttpResponse<String>>> responses = new ArrayList<>();
    for (int i = 0; i < streams; i++) {
      responses.add(httpClient.sendAsync(request, HttpResponse.BodyHandlers.ofString()));
    }

    await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
        assertThat(upstream.stats().activeRequests()).as("streams open at the same time")
            .isEqualTo(streams));
    assertThat(simulatorThreads()).as("simulator threads while %d streams are open", streams)
        .isLessThanOrEqualTo(SimulatedUpstream.MAX_THREADS + 2);
    CompletableFuture.allOf(responses.toArray(CompletableFuture[]::new))
        .orTimeout(10, TimeUnit.SECONDS)
        .join();
    assertThat(responses).extracting(r -> r.join().body()).as("every stream complete")
        .allMatch(body -> body.endsWith("data: [DONE]\n\n"));
    assertThat(upstream.stats().count(SimulatedAnswer.OK_STREAM)).as("streams counted")
        .isEqualTo(streams);
  }

  @Test
  void closeEndsHeldRequestsAndOpenStreamsAndStopsItsThreads() {
    SimulatedUpstream upstream = start(QUIET.toBuilder()
        .streamChunks(1000).chunkDelay(Duration.ofMillis(50)).build());
    CompletableFuture<Integer> held = execute(post(upstream, "/chat/completions", CHAT, "timeout"));
    CompletableFuture<Integer> stream = execute(post(upstream, "/chat/completions", CHAT_STREAM));
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() ->
        assertThat(upstream.stats().activeRequests()).as("open requests").isEqualTo(2));

    long start = System.nanoTime();
    upstream.close();

    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time to close")
        .isLessThan(Duration.ofSeconds(2));
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
      assertThat(held).as("held request").isCompletedExceptionally();
      assertThat(stream).as("stream").isCompletedExceptionally();
      assertThat(simulatorThreads()).as("simulator threads left").isZero();
    });
  }

  @Test
  void startingOnAPortThatIsTakenFailsWithUncheckedIoException() {
    SimulatedUpstream first = start(QUIET);
    SimulatedUpstream second = new SimulatedUpstream(QUIET.toBuilder().port(first.port()).build());
    started.add(second);

    assertThatThrownBy(second::start).as("second simulator on port %d", first.port())
        .isInstanceOf(java.io.UncheckedIOException.class)
        .hasMessageContaining(String.valueOf(first.port()));
    assertThatThrownBy(second::baseUrl).as("base URL of a simulator that did not start")
        .isInstanceOf(IllegalStateException.class);
  }

  private SimulatedUpstream start(SimulatorConfig config) {
    SimulatedUpstream upstream = SimulatedUpstream.start(config);
    started.add(upstream);
    return upstream;
  }

  private static Request post(SimulatedUpstream upstream, String path, String json) {
    return new Request.Builder().url(upstream.baseUrl() + path)
        .post(RequestBody.create(json, JSON_TYPE)).build();
  }

  private static Request post(SimulatedUpstream upstream, String path, String json, String fault) {
    return post(upstream, path, json).newBuilder()
        .header(SimulatedUpstream.FAULT_HEADER, fault).build();
  }

  private static Request get(SimulatedUpstream upstream, String path) {
    return new Request.Builder().url(upstream.baseUrl() + path).build();
  }

  private static JsonNode postForJson(SimulatedUpstream upstream, String path, String json)
      throws IOException {
    try (Response response = client.newCall(post(upstream, path, json)).execute()) {
      assertThat(response.code()).as("status of POST %s", path).isEqualTo(200);
      return JSON.readTree(response.body().string());
    }
  }

  private static List<String> answers(SimulatedUpstream upstream, int count) throws IOException {
    List<String> answers = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Call call = client.newCall(post(upstream, "/chat/completions", CHAT));
      try (Response response = call.execute()) {
        response.body().string();
        answers.add(response.header(SimulatedUpstream.ANSWER_HEADER));
      }
    }
    return answers;
  }

  /** Runs a call to its end (body read) on another thread; completes with the status. */
  /** Callers on threads of their own: the common pool of a 2-core machine may run one at a time. */
  private static final java.util.concurrent.ExecutorService CALLERS = java.util.concurrent.Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "test-caller");
    t.setDaemon(true);
    return t;
  });

  private static CompletableFuture<Integer> execute(Request request) {
    return CompletableFuture.supplyAsync(() -> {
      try (Response response = client.newCall(request).execute()) {
        response.body().string();
        return response.code();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }, CALLERS);
  }

  private static long simulatorThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(thread -> thread.isAlive() && thread.getName().startsWith("sim-upstream"))
        .count();
  }
}
