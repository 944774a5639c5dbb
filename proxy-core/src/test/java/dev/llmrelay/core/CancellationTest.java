package dev.llmrelay.core;

import static dev.llmrelay.core.Sse.chunk;
import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Cancellation by the caller or a client that went away stops everything and leaks nothing. */
class CancellationTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();

  @Test
  void cancelDuringBackoffMakesNoFurtherAttempt() throws Exception {
    server.enqueue(new MockResponse.Builder().code(500).setHeader("Content-Type", "application/json").body("{}").build());
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{}").build());
    UpstreamClient client = leaks.client(fast(server).backoffInitial(Duration.ofMillis(800)).backoffMax(Duration.ofMillis(800)).build());

    RecordingSink sink = new RecordingSink();
    UpstreamExchange exchange = client.start(chat("b1"), sink);
    server.takeRequest(5, TimeUnit.SECONDS);
    await().until(() -> client.stats().retries() == 1); // the backoff has been scheduled

    long start = System.nanoTime();
    exchange.cancel();
    ExchangeResult result = exchange.completion().toCompletableFuture().get(2, TimeUnit.SECONDS);

    assertThat((System.nanoTime() - start) / 1_000_000).as("the backoff is interrupted at once").isLessThan(500);
    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    await().during(Duration.ofMillis(1200)).atMost(Duration.ofSeconds(3))
        .until(() -> server.getRequestCount() == 1);
    assertThat(sink.status).isZero();
    assertThat(sink.failure).isNull();
  }

  @Test
  void cancelWhileWaitingForHeadersCancelsTheUpstreamCall() throws Exception {
    server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).attemptTimeout(Duration.ofSeconds(5)).build());

    RecordingSink sink = new RecordingSink();
    UpstreamExchange exchange = client.start(chat("h1"), sink);
    server.takeRequest(5, TimeUnit.SECONDS);
    exchange.cancel();

    ExchangeResult result = exchange.completion().toCompletableFuture().get(2, TimeUnit.SECONDS);
    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(server.getRequestCount()).as("no retry after a cancel").isEqualTo(1);
    assertThat(client.okHttp().connectionPool().connectionCount()).as("the connection was closed").isZero();
  }

  @Test
  void cancelMidStreamClosesTheUpstreamConnectionWithinOneSecondAndReturnsThePermit() throws Exception {
    CountDownLatch upstreamSawClose = new CountDownLatch(1);
    server.enqueue(new Sse().onWriteFailure(upstreamSawClose).send(chunk(0, "a")).keepAlive(50, 8000).response());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    UpstreamExchange exchange = client.start(chat("m1"), sink);
    await().until(() -> sink.body().contains("\"a\""));
    assertThat(client.gate().availablePermits()).as("one permit held").isEqualTo(client.gate().maxPermits() - 1);

    long start = System.nanoTime();
    exchange.cancel();

    assertThat(upstreamSawClose.await(1, TimeUnit.SECONDS)).as("upstream connection closed within 1 s").isTrue();
    ExchangeResult result = exchange.completion().toCompletableFuture().get(1, TimeUnit.SECONDS);
    assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(1000);
    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(client.gate().availablePermits()).as("permit back").isEqualTo(client.gate().maxPermits());
    assertThat(client.stats().clientCancels()).isEqualTo(1);
    assertThat(sink.body()).as("no error event is written to a client that left").doesNotContain("error");
  }

  @Test
  void aClientThatGoesAwayMidStreamCancelsTheUpstream() throws Exception {
    CountDownLatch upstreamSawClose = new CountDownLatch(1);
    Sse sse = new Sse().onWriteFailure(upstreamSawClose);
    for (int i = 0; i < 100; i++) {
      sse.send(chunk(i, "t")).pause(20);
    }
    server.enqueue(sse.response());
    UpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    sink.failOnWrite = 3; // the fourth write fails: the client disconnected
    UpstreamExchange exchange = client.start(chat("g1"), sink);

    ExchangeResult result = exchange.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(upstreamSawClose.await(2, TimeUnit.SECONDS)).as("upstream connection closed").isTrue();
    assertThat(server.getRequestCount()).as("never retried").isEqualTo(1);
  }

  @Test
  void closingTheClientAnswersWaitingRequests503RelayClosedAndEndsStreamsWithAnInBandError() throws Exception {
    // Given one request waiting for headers, one streaming, and one queued behind them
    server.setDispatcher(new mockwebserver3.Dispatcher() {
      @Override
      public MockResponse dispatch(mockwebserver3.RecordedRequest request) {
        if (request.getHeaders().get("X-Request-Id").equals("streaming")) {
          return new Sse().send(chunk(0, "a")).keepAlive(50, 8000).response();
        }
        return new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build();
      }
    });
    RealUpstreamClient client = (RealUpstreamClient) UpstreamClient.create(fast(server)
        .attemptTimeout(Duration.ofSeconds(5)).streamIdleTimeout(Duration.ofSeconds(5))
        .maxConcurrentRequests(2).maxWait(Duration.ofSeconds(5)).build());
    RecordingSink waiting = new RecordingSink();
    UpstreamExchange waitingExchange = client.start(chat("waiting"), waiting);
    RecordingSink streaming = new RecordingSink();
    UpstreamExchange streamingExchange = client.start(chat("streaming"), streaming);
    await().until(() -> streaming.body().contains("\"a\""));
    RecordingSink queued = new RecordingSink();
    UpstreamExchange queuedExchange = client.start(chat("queued"), queued);
    await().until(() -> client.gate().queued() == 1);

    // When the client closes
    client.close();

    // Then nobody is left hanging, and nothing looks like a success
    assertThat(waitingExchange.completion().toCompletableFuture().get(3, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.REJECTED);
    assertThat(waiting.failure).isInstanceOf(RelayClosedException.class);
    assertThat(waiting.failure.status()).isEqualTo(503);
    assertThat(queuedExchange.completion().toCompletableFuture().get(3, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.REJECTED);
    assertThat(queued.failure).isInstanceOf(RelayClosedException.class);
    ExchangeResult streamed = streamingExchange.completion().toCompletableFuture().get(3, TimeUnit.SECONDS);
    assertThat(streamed.outcome()).isEqualTo(Outcome.MIDSTREAM_FAILURE);
    assertThat(streamed.midStreamCause()).isEqualTo("shutdown");
    assertThat(streaming.body()).contains("upstream_stream_interrupted").contains("shutting down").doesNotContain("[DONE]");
    assertThat(streaming.completed).isTrue();
    assertThat(client.gate().availablePermits()).isEqualTo(2);

    RecordingSink late = new RecordingSink();
    client.start(chat("late"), late);
    assertThat(late.failure).as("a closed client takes no new exchange").isInstanceOf(RelayClosedException.class);
  }
}
