package dev.llmrelay.core;

import static dev.llmrelay.core.Sse.DONE;
import static dev.llmrelay.core.Sse.chunk;
import static dev.llmrelay.core.Sse.finish;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.testing.LeakCheck;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** SSE streams: forwarded as they arrive, the commit point, and what a broken stream looks like. */
class StreamingTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();

  private static ClientRequest streamRequest(String id) {
    return new ClientRequest(
        Endpoint.CHAT_COMPLETIONS,
        java.util.Map.of("Content-Type", java.util.List.of("application/json")),
        "{\"model\":\"m\",\"stream\":true,\"messages\":[]}".getBytes(StandardCharsets.UTF_8),
        id,
        "m",
        true);
  }

  @Test
  void sseIsForwardedEventByEventBeforeTheUpstreamFinishes() throws Exception {
    // Given an upstream that sends event 2 only after the client has received event 1
    CountDownLatch clientHasFirst = new CountDownLatch(1);
    server.enqueue(new Sse().send(chunk(0, "Hel")).await(clientHasFirst).send(chunk(1, "lo")).send(finish()).send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).streamIdleTimeout(Duration.ofSeconds(5)).build());

    // When the stream starts
    RecordingSink sink = new RecordingSink();
    UpstreamExchange exchange = client.start(streamRequest("s1"), sink);

    // Then event 1 reaches the sink while the upstream is still holding event 2
    await().atMost(Duration.ofSeconds(5)).until(() -> sink.body().contains("Hel"));
    assertThat(sink.status).as("committed with the upstream status").isEqualTo(200);
    assertThat(sink.header("Content-Type")).isEqualTo("text/event-stream");
    assertThat(sink.body()).as("nothing of event 2 yet").doesNotContain("lo\"");
    assertThat(sink.flushes).as("flushed at the event boundary").isPositive();
    clientHasFirst.countDown();

    ExchangeResult result = exchange.completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(sink.body()).isEqualTo(chunk(0, "Hel") + chunk(1, "lo") + finish() + DONE);
    assertThat(sink.completed).isTrue();
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(result.streamed()).isTrue();
  }

  @Test
  void eventsArriveSpreadOutAsTheUpstreamSendsThem() throws Exception {
    Sse sse = new Sse();
    for (int i = 0; i < 5; i++) {
      sse.send(chunk(i, "t" + i)).pause(100);
    }
    server.enqueue(sse.send(finish()).send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(streamRequest("s2"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    long firstMs = sink.writes.get(0).nanos() / 1_000_000;
    long lastMs = sink.writes.get(sink.writes.size() - 1).nanos() / 1_000_000;
    assertThat(sink.writes.size()).as("several writes, not one buffered body").isGreaterThanOrEqualTo(5);
    assertThat(lastMs - firstMs).as("spread like the upstream's 5 x 100 ms").isGreaterThanOrEqualTo(350);
  }

  @Test
  void commentsBeforeTheFirstEventAreHeldAndTheStreamIsRetriedInvisiblyIfItBreaksBeforeIt() throws Exception {
    // First attempt: a processing comment, then the connection drops before any data event.
    server.enqueue(new Sse().send(": OPENROUTER PROCESSING\n\n").cut().response());
    server.enqueue(new Sse().send(": OPENROUTER PROCESSING\n\n").send(chunk(0, "ok")).send(finish()).send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(streamRequest("s3"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(server.getRequestCount()).as("retried").isEqualTo(2);
    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.body())
        .as("one comment (from the successful attempt) and the full stream; nothing of the failed attempt")
        .isEqualTo(": OPENROUTER PROCESSING\n\n" + chunk(0, "ok") + finish() + DONE);
    assertThat(sink.header("X-Relay-Attempts")).isEqualTo("2");
    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
  }

  @Test
  void aStreamThatFailsBeforeItsFirstEventOnEveryAttemptGetsAnOrdinaryErrorStatus() throws Exception {
    for (int i = 0; i < 3; i++) {
      server.enqueue(new Sse().send(": OPENROUTER PROCESSING\n\n").cut().response());
    }
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(streamRequest("s3b"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).as("nothing committed").isZero();
    assertThat(sink.failure).isInstanceOf(UpstreamUnreachableException.class);
    assertThat(sink.failure.status()).isEqualTo(502);
  }

  @Test
  void aStreamBrokenAfterTheFirstEventEndsWithAnInBandErrorAndIsNotRetried() throws Exception {
    server.enqueue(new Sse().send(chunk(0, "Hel")).send(chunk(1, "lo")).send("data: {\"partial").cut().response());
    server.enqueue(new Sse().send(chunk(0, "never")).send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).streamContinuation(false).build()); // the DESIGN §2 behaviour; see ContinuationTest

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(streamRequest("s4"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(server.getRequestCount()).as("no retry after the commit point").isEqualTo(1);
    String body = sink.body();
    assertThat(body).startsWith(chunk(0, "Hel") + chunk(1, "lo"));
    assertThat(body).as("half an event is never forwarded").doesNotContain("partial");
    assertThat(body).as("a truncated stream never looks like a success").doesNotContain("[DONE]");
    String last = body.substring(body.lastIndexOf("data: ") + "data: ".length()).trim();
    JsonNode event = new ObjectMapper().readTree(last);
    assertThat(event.path("error").path("code").asText()).isEqualTo("upstream_stream_interrupted");
    assertThat(event.path("error").path("type").asText()).isEqualTo("proxy_error");
    assertThat(event.path("choices").path(0).path("finish_reason").asText()).isEqualTo("error");
    assertThat(event.path("id").asText()).as("the stream's own id").isEqualTo("chatcmpl-1");
    assertThat(body).endsWith("\n\n");
    assertThat(sink.completed).isTrue();
    assertThat(result.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
    assertThat(client.stats().midStreamFailures()).isEqualTo(1);
  }

  @Test
  void aStreamThatGoesSilentAfterCommitEndsWithAnInBandErrorAfterTheIdleTimeout() throws Exception {
    server.enqueue(new Sse().send(chunk(0, "Hel")).pause(5000).response());
    UpstreamClient client = leaks.client(fast(server).build());

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(streamRequest("s5"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(sink.body()).contains("upstream_stream_interrupted").contains("silent").doesNotContain("[DONE]");
    assertThat(elapsedMs).as("ends after about the 400 ms idle timeout").isBetween(350L, 2500L);
    assertThat(result.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
  }

  @Test
  void commentsKeepASlowStreamAliveAndNoTimeoutBoundsItsTotalLength() throws Exception {
    // 8 x 150 ms = 1.2 s in total, three times the 400 ms idle timeout, but never silent for long.
    Sse sse = new Sse().send(chunk(0, "a"));
    for (int i = 0; i < 8; i++) {
      sse.pause(150).send(": keep-alive\n\n");
    }
    server.enqueue(sse.send(finish()).send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(streamRequest("s6"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(sink.body()).endsWith(DONE).contains(": keep-alive");
  }

  @Test
  void aStreamEndingAfterAFinishReasonWithoutDoneIsComplete() throws Exception {
    server.enqueue(new Sse().send(chunk(0, "a")).send(finish()).response());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(streamRequest("s7"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(sink.body()).isEqualTo(chunk(0, "a") + finish());
  }

  @Test
  void theResponseContentTypeDecidesStreamingNotTheRequestFlag() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"id\":\"x\"}").build());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(streamRequest("s8"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.streamed()).isFalse();
    assertThat(sink.body()).isEqualTo("{\"id\":\"x\"}");
  }

  @Test
  void anErrorStatusOnAStreamingRequestIsRetriedAndAnsweredAsJson() throws Exception {
    server.enqueue(new MockResponse.Builder().code(503).setHeader("Content-Type", "application/json").body("{\"error\":{}}").build());
    server.enqueue(new Sse().send(chunk(0, "ok")).send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    client.start(streamRequest("s9"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.body()).isEqualTo(chunk(0, "ok") + DONE);
  }

  @Test
  void finishedStreamsGiveTheirConnectionBackToThePool() throws Exception {
    for (int i = 0; i < 3; i++) {
      server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
          .body(chunk(0, "a") + finish() + DONE).build());
    }
    UpstreamClient client = leaks.client(fast(server).build());

    for (int i = 0; i < 3; i++) {
      client.start(streamRequest("pool" + i), new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    assertThat(server.takeRequest().getConnectionIndex()).isZero();
    assertThat(server.takeRequest().getConnectionIndex()).as("second stream on the same connection").isZero();
    assertThat(server.takeRequest().getConnectionIndex()).as("third stream on the same connection").isZero();
  }

  @Test
  void aSlowClientIsNotMistakenForASilentUpstream() throws Exception {
    Sse sse = new Sse();
    for (int i = 0; i < 10; i++) {
      sse.send(chunk(i, "t")).pause(100);
    }
    server.enqueue(sse.send(finish()).send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).build()); // idle timeout 400 ms

    RecordingSink slow = new RecordingSink() {
      private int writes;

      @Override
      public synchronized void onBody(byte[] buffer, int offset, int length) throws java.io.IOException {
        if (writes++ == 1) {
          try {
            Thread.sleep(900); // the client reads slowly for longer than the idle timeout
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        super.onBody(buffer, offset, length);
      }
    };
    ExchangeResult result = client.start(streamRequest("slow"), slow).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(slow.body()).endsWith(DONE);
  }

  @Test
  void doneIsForwardedOnlyWithItsBlankLine() throws Exception {
    server.enqueue(new Sse().send(chunk(0, "a")).send(finish()).send("data: [DONE]\n").pause(200).send("\n").pause(2000).response());
    UpstreamClient client = leaks.client(fast(server).streamIdleTimeout(Duration.ofSeconds(5)).build());

    RecordingSink sink = new RecordingSink();
    client.start(streamRequest("done-split"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(sink.body()).endsWith("data: [DONE]\n\n");
  }

  @Test
  void aFinishedStreamWhoseUpstreamOmitsTheLastBlankLineIsTerminatedForTheClient() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "text/event-stream")
        .body(chunk(0, "a") + finish() + "data: [DONE]\n")
        .onResponseEnd(new mockwebserver3.SocketEffect.CloseSocket(true, false, false)).build());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(streamRequest("no-blank"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(sink.body()).isEqualTo(chunk(0, "a") + finish() + DONE);
  }
}
