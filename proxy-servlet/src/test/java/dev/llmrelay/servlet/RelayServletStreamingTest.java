package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.RelayStats;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import okhttp3.Call;
import okhttp3.Request;
import okhttp3.Response;
import okio.BufferedSource;
import org.junit.jupiter.api.Test;

/** SSE through the relay in a real Jetty 12: incremental delivery, disconnects, the gate. */
class RelayServletStreamingTest extends RelayTestBase {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final String STREAM_REQUEST =
      "{\"model\":\"test-model\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";


  private Call streamCall() {
    return http.newCall(
        new Request.Builder()
            .url(relay.url("/v1/chat/completions"))
            .header("Accept", "text/event-stream")
            .post(TestHttp.json(STREAM_REQUEST))
            .build());
  }

  /** Reads one SSE event (its lines up to the blank line), or null at the end of the stream. */
  private static String readEvent(BufferedSource source) throws IOException {
    StringBuilder event = new StringBuilder();
    String line;
    while ((line = source.readUtf8Line()) != null) {
      if (line.isEmpty()) {
        return event.toString();
      }
      event.append(line).append('\n');
    }
    return event.length() == 0 ? null : event.toString();
  }

  @Test
  void sseEventsArriveIncrementallyWhileLaterEventsAreHeldBack() throws Exception {
    startRelay(c -> c);
    // Given an upstream that sends event 2 only once the client has read event 1
    CountDownLatch clientReadFirst = new CountDownLatch(1);
    CountDownLatch clientReadSecond = new CountDownLatch(1);
    upstream.enqueue(
        Upstreams.sse(
            SseBodies.gated(
                List.of(Upstreams.chunk("Hel"), Upstreams.chunk("lo"), Upstreams.finalChunk() + Upstreams.DONE),
                Arrays.asList(null, clientReadFirst, clientReadSecond))));

    // When the client streams a chat completion through the relay
    try (Response response = streamCall().execute()) {
      assertThat(response.code()).as("status").isEqualTo(200);
      assertThat(response.header("Content-Type")).as("content type").startsWith("text/event-stream");
      assertThat(response.header("Content-Length")).as("Content-Length of a stream").isNull();
      assertThat(response.header("X-Relay-Attempts")).as("attempts").isEqualTo("1");
      BufferedSource source = response.body().source();

      // Then each event arrives while the upstream is still holding back the next one
      assertThat(readEvent(source)).as("event 1, read while event 2 is gated").contains("\"content\":\"Hel\"");
      clientReadFirst.countDown();
      assertThat(readEvent(source)).as("event 2, read while event 3 is gated").contains("\"content\":\"lo\"");
      clientReadSecond.countDown();
      assertThat(readEvent(source)).as("final event").contains("\"finish_reason\":\"stop\"");
      assertThat(readEvent(source)).as("done marker").isEqualTo("data: [DONE]\n");
      assertThat(readEvent(source)).as("end of stream").isNull();
    }
  }

  @Test
  void clientDisconnectMidStreamClosesTheUpstreamConnectionAndFreesThePermit() throws Exception {
    startRelay(c -> c.maxConcurrentRequests(2));
    CountDownLatch upstreamClosed = new CountDownLatch(1);
    upstream.enqueue(Upstreams.sse(SseBodies.endless(50, 400, upstreamClosed)));

    // Given a client in the middle of an endless stream
    Call call = streamCall();
    Response response = call.execute();
    BufferedSource source = response.body().source();
    assertThat(readEvent(source)).as("first event").contains("token0");
    assertThat(readEvent(source)).as("second event").contains("token1");
    assertThat(client.stats().permitsAvailable()).as("permits while streaming").isEqualTo(1);

    // When the client goes away
    long disconnectedAt = System.nanoTime();
    call.cancel();
    response.close();

    // Then within 2 s the upstream connection is closed and the permit is back
    assertThat(upstreamClosed.await(2, TimeUnit.SECONDS)).as("upstream saw its connection closed within 2 s").isTrue();
    await()
        .atMost(Duration.ofNanos(Duration.ofSeconds(2).toNanos() - (System.nanoTime() - disconnectedAt)))
        .pollInterval(Duration.ofMillis(10))
        .untilAsserted(() -> {
          RelayStats stats = client.stats();
          assertThat(stats.permitsAvailable()).as("permits after the disconnect").isEqualTo(2);
          assertThat(stats.upstreamConnections() - stats.idleUpstreamConnections()).as("leased upstream connections").isZero();
        });
    assertThat(client.stats().clientCancels()).as("counted as a client disconnect").isEqualTo(1);
    assertThat(client.stats().midStreamFailures()).as("not counted as an upstream failure").isZero();
  }

  @Test
  void concurrencyLimitAnswers503WithRetryAfterThroughHttp() throws Exception {
    startRelay(c -> c.maxConcurrentRequests(1).maxWait(Duration.ofMillis(300)));
    // Given the only permit held by a stream that waits for the test
    CountDownLatch release = new CountDownLatch(1);
    upstream.enqueue(
        Upstreams.sse(
            SseBodies.gated(
                List.of(Upstreams.chunk("held"), Upstreams.finalChunk() + Upstreams.DONE), Arrays.asList(null, release))));
    Call first = streamCall();
    try (Response holder = first.execute()) {
      assertThat(readEvent(holder.body().source())).as("first stream started").contains("held");

      // When a second request arrives
      long started = System.nanoTime();
      try (Response rejected =
          http.newCall(
                  new Request.Builder()
                      .url(relay.url("/v1/chat/completions"))
                      .post(TestHttp.json(Upstreams.CHAT_REQUEST))
                      .build())
              .execute()) {
        long waitedMillis = (System.nanoTime() - started) / 1_000_000;

        // Then it waits MAX_WAIT_SECONDS and gets 503 concurrency_limit, without an upstream attempt
        assertThat(rejected.code()).as("status").isEqualTo(503);
        JsonNode error = MAPPER.readTree(rejected.body().string()).path("error");
        assertThat(error.path("code").asText()).as("code").isEqualTo("concurrency_limit");
        assertThat(rejected.header("Retry-After")).as("Retry-After").matches("[1-9][0-9]*");
        assertThat(rejected.header("x-should-retry")).as("x-should-retry (clients may retry later)").isNull();
        assertThat(rejected.header("X-Request-Id")).as("request id").isNotBlank();
        assertThat(waitedMillis).as("time waited for a permit").isGreaterThanOrEqualTo(250);
      }
      assertThat(upstream.getRequestCount()).as("upstream requests").isEqualTo(1);
      release.countDown();
      assertThat(holder.body().string()).as("rest of the first stream").contains("[DONE]");
    }
    // The exchange counts its end after it has written the 503: the count may lag the answer.
    await("rejected count")
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(() -> assertThat(client.stats().rejected()).as("rejected count").isEqualTo(1));
  }

  @Test
  void streamThatStallsAfterTheFirstEventEndsWithAnInBandErrorEvent() throws Exception {
    startRelay(c -> c);
    // Given an upstream that sends one event and then falls silent past STREAM_IDLE_TIMEOUT
    upstream.enqueue(
        Upstreams.sse(SseBodies.gated(List.of(Upstreams.chunk("partial")), List.of())));

    try (Response response = streamCall().execute()) {
      assertThat(response.code()).as("status (committed at the first event)").isEqualTo(200);
      BufferedSource source = response.body().source();
      List<String> events = new ArrayList<>();
      String event;
      while ((event = readEvent(source)) != null) {
        events.add(event);
      }
      assertThat(events).as("events").hasSize(2);
      assertThat(events.get(0)).as("forwarded event").contains("partial");
      JsonNode last = MAPPER.readTree(events.get(1).substring("data: ".length()));
      assertThat(last.at("/error/code").asText()).as("in-band error code").isEqualTo("upstream_stream_interrupted");
      assertThat(last.at("/choices/0/finish_reason").asText()).as("finish reason").isEqualTo("error");
      assertThat(String.join("", events)).as("no [DONE] after a broken stream").doesNotContain("[DONE]");
    }
  }
}
