package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link UpstreamClient#newExchange}: nothing happens until it is started; {@link
 * UpstreamExchange#execute()} runs it on the calling thread, {@link UpstreamExchange#start()}
 * returns at once.
 */
class ExecuteTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();

  private static MockResponse ok(String body) {
    return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body(body).build();
  }

  /** Remembers the thread of the response. */
  private static final class ThreadRecordingSink extends RecordingSink {
    volatile Thread responseThread;

    @Override
    public void onResponse(int status, Map<String, List<String>> headers) {
      responseThread = Thread.currentThread();
      super.onResponse(status, headers);
    }
  }

  @Test
  void executeRunsTheExchangeOnTheCallingThreadAndReturnsItsResult() throws Exception {
    server.enqueue(ok("{\"here\":true}"));
    UpstreamClient client = leaks.client(fast(server).build());
    ThreadRecordingSink sink = new ThreadRecordingSink();

    UpstreamExchange exchange = client.newExchange(chat("m"), sink);
    assertThat(server.getRequestCount()).as("nothing before it is started").isZero();
    ExchangeResult result = exchange.execute();

    assertThat(result.outcome()).isEqualTo(Outcome.SUCCESS);
    assertThat(exchange.completion().toCompletableFuture().isDone()).isTrue();
    assertThat(sink.responseThread).as("the caller's thread ran it").isSameAs(Thread.currentThread());
    assertThat(sink.body()).isEqualTo("{\"here\":true}");
    assertThat(server.getRequestCount()).isEqualTo(1);
  }

  @Test
  void startReturnsAtOnceAndAnExecutorThreadRunsTheExchange() throws Exception {
    CountDownLatch answer = new CountDownLatch(1);
    server.enqueue(new Sse().await(answer).send("data: {\"a\":1}\n\n").send("data: [DONE]\n\n").response());
    UpstreamClient client = leaks.client(fast(server).streamIdleTimeout(Duration.ofSeconds(5)).build());
    ThreadRecordingSink sink = new ThreadRecordingSink();

    UpstreamExchange exchange = client.newExchange(chat("m"), sink).start();

    assertThat(exchange.completion().toCompletableFuture().isDone()).as("returned before the upstream answered").isFalse();
    answer.countDown();
    exchange.completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(sink.responseThread).isNotSameAs(Thread.currentThread());
    assertThat(sink.status).isEqualTo(200);
  }

  @Test
  void executeWaitsForAPermitOnTheCallerAndACancelEndsTheWaitWithoutAnUpstreamCall() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofSeconds(5))
        .streamIdleTimeout(Duration.ofSeconds(5)).build());
    RecordingSink holder = new RecordingSink();
    client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);

    RecordingSink sink = new RecordingSink();
    UpstreamExchange waiting = client.newExchange(chat("waiter"), sink);
    ExecutorService caller = Executors.newSingleThreadExecutor();
    try {
      Future<ExchangeResult> result = caller.submit(waiting::execute);
      await().until(() -> client.gate().queued() == 1);
      waiting.cancel();
      ExchangeResult r = result.get(5, TimeUnit.SECONDS);
      assertThat(r.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
      assertThat(r.clientGonePhase()).isEqualTo("queued");
      assertThat(sink.ended()).as("a cancelled exchange calls the sink no more").isFalse();
      assertThat(server.getRequestCount()).as("only the holder reached the upstream").isEqualTo(1);
    } finally {
      release.countDown();
      caller.shutdownNow();
    }
  }

  @Test
  void anExchangeCancelledBeforeItStartsNeverReachesTheUpstream() throws Exception {
    UpstreamClient client = leaks.client(fast(server).build());
    RecordingSink sink = new RecordingSink();

    UpstreamExchange exchange = client.newExchange(chat("m"), sink);
    exchange.cancel();
    ExchangeResult result = exchange.execute();

    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(server.getRequestCount()).isZero();
    assertThat(sink.ended()).isFalse();
  }

  @Test
  void anExchangeRunsOnceOnly() {
    server.enqueue(ok("{}"));
    UpstreamClient client = leaks.client(fast(server).build());
    UpstreamExchange exchange = client.newExchange(chat("m"), new RecordingSink());
    exchange.execute();

    assertThatThrownBy(exchange::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("already started");
    assertThatThrownBy(exchange::execute).isInstanceOf(IllegalStateException.class);
    assertThat(server.getRequestCount()).isEqualTo(1);
  }

  @Test
  void aClosedClientAnswers503RelayClosedWhateverWayTheExchangeIsRun() {
    UpstreamClient client = leaks.client(fast(server).build());
    client.close();

    RecordingSink executed = new RecordingSink();
    ExchangeResult result = client.newExchange(chat("a"), executed).execute();
    RecordingSink started = new RecordingSink();
    client.start(chat("b"), started);

    assertThat(result.status()).isEqualTo(503);
    assertThat(result.errorCode()).isEqualTo("relay_closed");
    assertThat(result.bytesOut()).as("the JSON error body is counted").isPositive();
    assertThat(executed.failure.code()).isEqualTo("relay_closed");
    await().until(() -> started.failure != null);
    assertThat(started.failure.code()).isEqualTo("relay_closed");
    assertThat(server.getRequestCount()).isZero();
  }

  @Test
  void aClientThatFailsToTakeTheResponseFreesThePermitAtOnce() {
    server.enqueue(ok("{\"a\":1}"));
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).build());
    RecordingSink sink = new RecordingSink();
    sink.failOnWrite = 0;

    ExchangeResult result = client.newExchange(chat("m"), sink).execute();

    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(client.gate().availablePermits()).isEqualTo(client.gate().maxPermits());
  }
}
