package dev.llmrelay.core;

import static dev.llmrelay.core.Sse.chunk;
import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.internal.RealUpstreamClient;
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
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  @Test
  void cancelDuringBackoffMakesNoFurtherAttempt() throws Exception {
    server.enqueue(new MockResponse.Builder().code(500).setHeader("Content-Type", "application/json").body("{}").build());
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{}").build());
    RealUpstreamClient client = leaks.client(fast(server).backoffInitial(Duration.ofMillis(800)).backoffMax(Duration.ofMillis(800)).build());

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
    RealUpstreamClient client = leaks.client(fast(server).attemptTimeout(Duration.ofSeconds(5)).build());

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
    RealUpstreamClient client = leaks.client(fast(server).build());

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
    RealUpstreamClient client = leaks.client(fast(server).build());

    RecordingSink sink = new RecordingSink();
    sink.failOnWrite = 3; // the fourth write fails: the client disconnected
    UpstreamExchange exchange = client.start(chat("g1"), sink);

    ExchangeResult result = exchange.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(upstreamSawClose.await(2, TimeUnit.SECONDS)).as("upstream connection closed").isTrue();
    assertThat(server.getRequestCount()).as("never retried").isEqualTo(1);
  }

  @Test
  void closingTheClientCancelsRunningExchanges() throws Exception {
    server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    RealUpstreamClient client = (RealUpstreamClient) UpstreamClient.create(fast(server).attemptTimeout(Duration.ofSeconds(5)).build());
    UpstreamExchange exchange = client.start(chat("c1"), new RecordingSink());
    server.takeRequest(5, TimeUnit.SECONDS);

    client.close();

    assertThat(exchange.completion().toCompletableFuture().get(3, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    RecordingSink late = new RecordingSink();
    client.start(chat("c2"), late);
    assertThat(late.failure).as("a closed client takes no new exchange").isInstanceOf(RelayClosedException.class);
  }
}
