package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockResponseBody;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import okio.BufferedSink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A stream that breaks after the commit point is finished by the next route, seamlessly. */
class ContinuationTest {
  @StartStop public final MockWebServer server = new MockWebServer();

  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();
  @RegisterExtension final LogCapture log = new LogCapture();

  private static final ObjectMapper JSON = new ObjectMapper();

  /** One upstream request as the test's upstream saw it. */
  private record Seen(String model, JsonNode body, boolean continuation) {}

  /** Answers by (model, is this a continuation), recording every request. */
  private static final class Upstream extends Dispatcher {
    final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final BiFunction<String, Boolean, MockResponse> answer;

    Upstream(BiFunction<String, Boolean, MockResponse> answer) {
      this.answer = answer;
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
      try {
        JsonNode body = JSON.readTree(request.getBody().utf8());
        JsonNode messages = body.path("messages");
        boolean continuation = messages.size() > 0 && "assistant".equals(messages.get(messages.size() - 1).path("role").asText());
        String model = body.path("model").asText();
        seen.add(new Seen(model, body, continuation));
        return answer.apply(model, continuation);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  private static String chunk(String id, String content) {
    ObjectNode c = JSON.createObjectNode();
    c.put("id", id).put("object", "chat.completion.chunk").put("created", id.equals("orig") ? 1700000000L : 1800000000L).put("model", "m");
    ObjectNode choice = c.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putObject("delta").put("content", content);
    choice.putNull("finish_reason");
    return "data: " + c + "\n\n";
  }

  private static String roleChunk(String id) {
    return "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1800000000,\"model\":\"m\","
        + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
  }

  private static String finish(String id) {
    return "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1800000000,\"model\":\"m\","
        + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
  }

  private static String tokens(int from, int to) {
    StringBuilder s = new StringBuilder();
    for (int i = from; i < to; i++) {
      s.append("t").append(i).append(' ');
    }
    return s.toString();
  }

  /** An SSE body of the tokens [from, to), then either a cut (connection closed) or finish + [DONE]. */
  private static MockResponse tokenStream(String id, int from, int to, boolean complete) {
    Sse sse = new Sse();
    if (!id.equals("orig")) {
      sse.send(roleChunk(id));
    }
    for (int i = from; i < to; i++) {
      sse.send(chunk(id, "t" + i + " "));
    }
    if (complete) {
      sse.send(finish(id)).send(Sse.DONE);
    }
    return sse.response();
  }

  private static ClientRequest streamRequest(String model, List<String> models) {
    String body = "{\"model\":\"" + model + "\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        + "{\"role\":\"user\",\"content\":\"count\"}]}";
    return new ClientRequest(Endpoint.CHAT_COMPLETIONS, Map.of(), body.getBytes(StandardCharsets.UTF_8), "c-" + System.nanoTime(), model, true, models);
  }

  /** The client's view: the concatenated content of choice 0, the ids, and what ended the stream. */
  private record Received(String content, List<String> ids, List<Long> created, String raw) {}

  private static Received parse(String raw) throws IOException {
    StringBuilder content = new StringBuilder();
    List<String> ids = new ArrayList<>();
    List<Long> created = new ArrayList<>();
    for (String event : raw.split("\n\n")) {
      if (!event.startsWith("data: ") || event.equals("data: [DONE]")) {
        continue;
      }
      JsonNode chunk = JSON.readTree(event.substring(6));
      ids.add(chunk.path("id").asText());
      created.add(chunk.path("created").asLong());
      content.append(chunk.path("choices").path(0).path("delta").path("content").asText(""));
    }
    return new Received(content.toString(), ids, created, raw);
  }

  private static ExchangeResult run(UpstreamClient client, ClientRequest request, RecordingSink sink) throws Exception {
    return client.start(request, sink).completion().toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  @Test
  void aStreamCutAfter40Of60TokensReachesTheClientWholeOnceAndInOrder() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> continuation
        ? tokenStream("cont", 40, 60, true)
        : tokenStream("orig", 0, 40, false));
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("m", List.of()), sink);

    Received got = parse(sink.body());
    assertThat(got.content()).as("all 60 tokens, in order, once").isEqualTo(tokens(0, 60));
    assertThat(got.ids()).as("the original id throughout").containsOnly("orig");
    assertThat(got.created()).as("the original created throughout").containsOnly(1700000000L);
    assertThat(sink.body()).endsWith(": llmrelay routes=m@primary,m@primary\n\ndata: [DONE]\n\n");
    assertThat(sink.body()).doesNotContain("upstream_stream_interrupted");
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(result.continuations()).containsExactly("success");
    assertThat(upstream.seen).extracting(Seen::continuation).containsExactly(false, true);
  }

  @Test
  void theContinuationRequestIsTheOriginalPlusOneAssistantMessageWithExactlyTheTextSent() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> continuation
        ? tokenStream("cont", 5, 8, true)
        : tokenStream("orig", 0, 5, false));
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());
    ClientRequest request = streamRequest("m", List.of());

    run(client, request, new RecordingSink());

    JsonNode original = JSON.readTree(request.body());
    ObjectNode expected = ((ObjectNode) original).deepCopy();
    ((ArrayNode) expected.get("messages")).addObject().put("role", "assistant").put("content", tokens(0, 5));
    assertThat(upstream.seen.get(1).body()).isEqualTo(expected);
  }

  @Test
  void aStallIsContinuedOnTheFallbackWithinTheIdleTimeoutPlusOneAttempt() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> {
      if ("a".equals(model)) {
        Sse sse = new Sse();
        for (int i = 0; i < 20; i++) {
          sse.send(chunk("orig", "t" + i + " "));
        }
        return sse.pause(5000).response(); // stalls
      }
      return tokenStream("cont", 20, 30, true);
    });
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).breakerFailures(1).modelFallbacks(Map.of("a", List.of("b"))).build());

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("a", List.of()), sink);
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 30));
    assertThat(upstream.seen).extracting(Seen::model).containsExactly("a", "b");
    assertThat(elapsedMs).as("idle timeout (400 ms) plus one attempt").isBetween(350L, 1500L);
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(sink.body()).contains(": llmrelay routes=a@primary,b@primary");
  }

  @Test
  void aRouteThatRefusesThePrefillIsSkippedAndItsRefusalNeverShown() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> {
      if (!continuation) {
        return tokenStream("orig", 0, 10, false);
      }
      if (!"c".equals(model)) {
        return new MockResponse.Builder().code(400).setHeader("Content-Type", "application/json")
            .body("{\"error\":{\"message\":\"final assistant message not supported\"}}").build();
      }
      return tokenStream("cont", 10, 15, true);
    });
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("a", List.of("a", "b", "c")), sink);

    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 15));
    assertThat(sink.body()).doesNotContain("not supported");
    assertThat(result.continuations()).containsExactly("prefill_rejected", "prefill_rejected", "success");
    assertThat(upstream.seen).extracting(Seen::model).containsExactly("a", "a", "b", "c");
  }

  @Test
  void whenNoRouteCanContinueTheStreamEndsWithTheInBandErrorNeverThePrefill400() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> continuation
        ? new MockResponse.Builder().code(400).setHeader("Content-Type", "application/json").body("{\"error\":{\"message\":\"no prefill\"}}").build()
        : tokenStream("orig", 0, 10, false));
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("a", List.of("a", "b")), sink);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.body()).contains("upstream_stream_interrupted").doesNotContain("no prefill").doesNotContain("[DONE]");
    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 10));
    assertThat(result.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
  }

  @Test
  void aToolCallStreamIsNotContinued() throws Exception {
    String toolChunk = "data: {\"id\":\"orig\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,"
        + "\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]},\"finish_reason\":null}]}\n\n";
    Upstream upstream = new Upstream((model, continuation) -> new Sse().send(toolChunk).cut().response());
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("m", List.of()), sink);

    assertThat(upstream.seen).hasSize(1);
    assertThat(sink.body()).contains("upstream_stream_interrupted").doesNotContain("[DONE]");
    assertThat(result.continuations()).containsExactly("not_continuable");
  }

  @Test
  void withContinuationOffTheBrokenStreamEndsWithThePlainInBandError() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> tokenStream("orig", 0, 10, false));
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).streamContinuation(false).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("m", List.of()), sink);

    assertThat(upstream.seen).hasSize(1);
    assertThat(sink.body()).contains("upstream_stream_interrupted").doesNotContain("[DONE]");
    assertThat(result.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
    assertThat(result.continuations()).isEmpty();
  }

  @Test
  void anUpstreamsInBandErrorEventIsHeldBackAndTheStreamContinued() throws Exception {
    String errorEvent = "data: {\"id\":\"orig\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
        + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"error\"}],\"error\":{\"message\":\"provider died\",\"code\":502}}\n\n";
    Upstream upstream = new Upstream((model, continuation) -> continuation
        ? tokenStream("cont", 3, 6, true)
        : new Sse().send(chunk("orig", "t0 ")).send(chunk("orig", "t1 ")).send(chunk("orig", "t2 ")).send(errorEvent).response());
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    run(client, streamRequest("m", List.of()), sink);

    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 6));
    assertThat(sink.body()).doesNotContain("provider died").endsWith("data: [DONE]\n\n");
  }

  @Test
  void noCharacterIsDuplicatedOrLostAcrossTheSeamEvenAMultiByteOneSplitBetweenReads() throws Exception {
    String before = "Grüße aus Köln, 東京 und 😀";
    String after = " — weiter geht's: naïve café ✓";
    Upstream upstream = new Upstream((model, continuation) -> {
      if (continuation) {
        return new Sse().send(roleChunk("cont")).send(chunk("cont", after)).send(finish("cont")).send(Sse.DONE).response();
      }
      byte[] event = chunk("orig", before).getBytes(StandardCharsets.UTF_8);
      int split = new String(event, StandardCharsets.UTF_8).indexOf("😀") + 20; // inside the emoji's 4 bytes
      split = chunk("orig", before).substring(0, chunk("orig", before).indexOf("😀")).getBytes(StandardCharsets.UTF_8).length + 2;
      int at = split;
      return new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
          .body(new MockResponseBody() {
            @Override
            public long getContentLength() {
              return -1;
            }

            @Override
            public void writeTo(BufferedSink sink) throws IOException {
              sink.write(event, 0, at).flush();
              try {
                Thread.sleep(100);
              } catch (InterruptedException e) {
                throw new IOException(e);
              }
              sink.write(event, at, event.length - at).flush();
            }
          })
          .onResponseEnd(new SocketEffect.CloseSocket(true, false, false))
          .build();
    });
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    run(client, streamRequest("m", List.of()), sink);

    assertThat(parse(sink.body()).content()).isEqualTo(before + after);
    assertThat(upstream.seen.get(1).body().path("messages").get(2).path("content").asText()).isEqualTo(before);
  }

  /** How many tokens ("t0 t1 ...") the prefill of a continuation request already holds. */
  private static int tokensSent(JsonNode body) {
    JsonNode messages = body.path("messages");
    String sent = messages.get(messages.size() - 1).path("content").asText();
    return sent.isBlank() ? 0 : sent.trim().split(" ").length;
  }

  private static int roleDeltas(String raw) {
    return raw.split("\"role\"", -1).length - 1;
  }

  @Test
  void aContinuationThatStartsTheAnswerOverAndBreaksAgainIsNeverShownTwice() throws Exception {
    // Given an upstream whose streams break after 5 content events and which answers a prefilled
    // request by starting the answer over (it takes the prefill as context, not as a prefix)
    Upstream upstream = new Upstream((model, continuation) -> tokenStream(continuation ? "cont" : "orig", 0, 5, false));
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    // When a client streams through it
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("m", List.of()), sink);

    // Then it receives the 5 events once, one role at most, and the in-band error
    Received got = parse(sink.body());
    assertThat(got.content()).as("the answer once, never repeated").isEqualTo(tokens(0, 5));
    assertThat(roleDeltas(sink.body())).as("never a second role delta").isLessThanOrEqualTo(1);
    assertThat(sink.body()).contains("upstream_stream_interrupted").doesNotContain("[DONE]");
    assertThat(result.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
    assertThat(result.continuations()).as("no continuation finished the answer").doesNotContain("success").isNotEmpty();
    assertThat(upstream.seen).as("MAX_ATTEMPTS on the one route, continuations included").hasSize(3);
    assertThat(log.text()).doesNotContain("(null)");
  }

  @Test
  void aContinuationThatRepeatsTheAnswerAndGoesOnIsForwardedFromWhereTheClientIs() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> continuation
        ? tokenStream("cont", 0, 12, true) // starts over, repeats exactly, then goes on
        : tokenStream("orig", 0, 5, false));
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("m", List.of()), sink);

    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 12));
    assertThat(roleDeltas(sink.body())).isZero();
    assertThat(parse(sink.body()).ids()).containsOnly("orig");
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(result.continuations()).containsExactly("success");
    assertThat(sink.body()).endsWith("data: [DONE]\n\n");
  }

  @Test
  void aContinuationThatStartsOverWithOtherWordsIsNeverForwardedAndTheNextRouteContinues() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> {
      if (!continuation) {
        return tokenStream("orig", 0, 30, false);
      }
      if ("a".equals(model)) {
        // the same opening, then another answer: a restart, not a continuation
        return new Sse().send(roleChunk("cont")).send(chunk("cont", tokens(0, 6))).send(chunk("cont", "Something else entirely."))
            .send(finish("cont")).send(Sse.DONE).response();
      }
      return tokenStream("cont", 30, 35, true);
    });
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).modelFallbacks(Map.of("a", List.of("b"))).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("a", List.of()), sink);

    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 35));
    assertThat(sink.body()).doesNotContain("Something else");
    assertThat(result.continuations()).containsExactly("restarted", "success");
    assertThat(upstream.seen).extracting(Seen::model).containsExactly("a", "a", "b");
  }

  @Test
  void continuationCanBeTurnedOffForOneUpstream() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> tokenStream("orig", 0, 10, false));
    server.setDispatcher(upstream);
    UpstreamClient client = leaks.client(fast(server).primaryStreamContinuation(false).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("m", List.of()), sink);

    assertThat(upstream.seen).as("the upstream is never asked to continue").hasSize(1);
    assertThat(sink.body()).contains("upstream_stream_interrupted").doesNotContain("[DONE]");
    assertThat(result.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
  }

  @Test
  void aStallIsContinuedOnTheNextRouteNeverOnTheStalledOne() throws Exception {
    Upstream upstream = new Upstream((model, continuation) -> {
      if ("a".equals(model)) {
        Sse sse = new Sse();
        if (continuation) {
          sse.send(chunk("cont", "t1 "));
        } else {
          sse.send(chunk("orig", "t0 "));
        }
        return sse.pause(3000).response(); // stalls after its first event, every time
      }
      return tokenStream("cont", 1, 10, true);
    });
    server.setDispatcher(upstream);
    // the default breaker (5 failures) stays closed: only the stall decides where to go
    UpstreamClient client = leaks.client(fast(server).modelFallbacks(Map.of("a", List.of("b"))).build());

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("a", List.of()), sink);
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 10));
    assertThat(upstream.seen).extracting(Seen::model).as("a stall moves on at once").containsExactly("a", "b");
    assertThat(elapsedMs).as("one idle timeout (400 ms), not two").isLessThan(790L);
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
  }

  @Test
  void continuationsObeyTheRouteLimitsAndTheBreakerOfEveryOtherAttempt() throws Exception {
    // Every stream of model a breaks after three more tokens; model b finishes the answer.
    Dispatcher byRequest = new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        try {
          JsonNode body = JSON.readTree(request.getBody().utf8());
          JsonNode messages = body.path("messages");
          boolean continuation = "assistant".equals(messages.get(messages.size() - 1).path("role").asText());
          int from = continuation ? tokensSent(body) : 0;
          seenModels.add(body.path("model").asText());
          return "a".equals(body.path("model").asText())
              ? tokenStream(continuation ? "cont" : "orig", from, from + 3, false)
              : tokenStream("cont", from, 12, true);
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
      }
    };
    server.setDispatcher(byRequest);
    UpstreamClient client = leaks.client(fast(server).breakerFailures(2).maxRouteAttempts(10)
        .modelFallbacks(Map.of("a", List.of("b"))).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = run(client, streamRequest("a", List.of()), sink);

    assertThat(parse(sink.body()).content()).isEqualTo(tokens(0, 12));
    assertThat(seenModels).as("two breaks open a's breaker; the fallback finishes").containsExactly("a", "a", "b");
    assertThat(client.routes()).filteredOn(r -> "a".equals(r.model())).extracting(RouteStatus::breaker).containsExactly("open");
    assertThat(result.continuations()).containsExactly("broken", "success");
    assertThat(result.attempts()).isEqualTo(3);
  }

  private final List<String> seenModels = new CopyOnWriteArrayList<>();
}
