package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.internal.Threads;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link UpstreamClient#runOrStart}: an exchange runs on the calling thread only when that thread
 * may block (a virtual thread; tests on Java 17 mark a thread of their own instead) and a permit is
 * free at once; otherwise it is an ordinary {@code start}.
 */
class RunOrStartTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private static MockResponse ok(String body) {
    return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body(body).build();
  }

  /** Remembers the thread of each sink call. */
  private static final class ThreadRecordingSink extends RecordingSink {
    volatile Thread responseThread;

    @Override
    public void onResponse(int status, Map<String, List<String>> headers) {
      responseThread = Thread.currentThread();
      super.onResponse(status, headers);
    }
  }

  @Test
  void aThreadThatMayBlockRunsTheExchangeItselfAndReturnsWhenItEnded() throws Exception {
    server.enqueue(ok("{\"here\":true}"));
    RealUpstreamClient client = leaks.client(fast(server).build());
    ExecutorService caller = Executors.newSingleThreadExecutor(r -> new Thread(r, "blocking-caller"));
    try {
      client.runExchangesOn(t -> t.getName().equals("blocking-caller"));
      ThreadRecordingSink sink = new ThreadRecordingSink();
      AtomicReference<UpstreamExchange> started = new AtomicReference<>();
      AtomicReference<Boolean> doneBeforeStarted = new AtomicReference<>();

      Future<UpstreamExchange> returned = caller.submit(() -> client.runOrStart(chat("m"), sink, exchange -> {
        doneBeforeStarted.set(exchange.completion().toCompletableFuture().isDone());
        started.set(exchange);
      }));

      UpstreamExchange exchange = returned.get(10, TimeUnit.SECONDS);
      assertThat(started.get()).as("onStarted got the returned handle").isSameAs(exchange);
      assertThat(doneBeforeStarted.get()).as("onStarted ran before the exchange").isFalse();
      assertThat(exchange.completion().toCompletableFuture().isDone()).as("ended when runOrStart returned").isTrue();
      assertThat(sink.responseThread.getName()).as("the caller's thread ran it").isEqualTo("blocking-caller");
      assertThat(sink.status).isEqualTo(200);
      assertThat(sink.body()).isEqualTo("{\"here\":true}");
      assertThat(server.getRequestCount()).isEqualTo(1);
      assertThat(client.gate().availablePermits()).isEqualTo(client.config().maxConcurrentRequests());
    } finally {
      caller.shutdownNow();
    }
  }

  @Test
  void anOrdinaryThreadOnlyStartsTheExchangeAndReturnsAtOnce() throws Exception {
    CountDownLatch answer = new CountDownLatch(1);
    server.enqueue(new Sse().await(answer).send("data: {\"a\":1}\n\n").send("data: [DONE]\n\n").response());
    RealUpstreamClient client = leaks.client(fast(server).streamIdleTimeout(Duration.ofSeconds(5)).build());
    ThreadRecordingSink sink = new ThreadRecordingSink();
    AtomicReference<UpstreamExchange> started = new AtomicReference<>();

    UpstreamExchange exchange = client.runOrStart(chat("m"), sink, started::set);

    assertThat(started.get()).isSameAs(exchange);
    assertThat(exchange.completion().toCompletableFuture().isDone()).as("returned before the upstream answered").isFalse();
    answer.countDown();
    exchange.completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(sink.responseThread).as("an executor thread ran it").isNotSameAs(Thread.currentThread());
    assertThat(sink.status).isEqualTo(200);
  }

  @Test
  void aThreadThatMayBlockStillNeverWaitsForAPermit() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    server.enqueue(ok("{\"second\":true}"));
    RealUpstreamClient client = leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofSeconds(5))
        .streamIdleTimeout(Duration.ofSeconds(5)).build());
    RecordingSink holder = new RecordingSink();
    client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);
    client.runExchangesOn(t -> true);

    ThreadRecordingSink sink = new ThreadRecordingSink();
    UpstreamExchange waiting = client.runOrStart(chat("waiter"), sink, e -> {});

    assertThat(waiting.completion().toCompletableFuture().isDone()).as("queued, not run here").isFalse();
    assertThat(client.gate().queued()).isEqualTo(1);
    release.countDown();
    waiting.completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(sink.status).isEqualTo(200);
    assertThat(sink.responseThread).isNotSameAs(Thread.currentThread());
  }

  @Test
  void aHandleCancelledInOnStartedNeverReachesTheUpstream() throws Exception {
    server.enqueue(ok("{}"));
    RealUpstreamClient client = leaks.client(fast(server).build());
    client.runExchangesOn(t -> true);
    RecordingSink sink = new RecordingSink();

    UpstreamExchange exchange = client.runOrStart(chat("m"), sink, UpstreamExchange::cancel);

    ExchangeResult result = exchange.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(server.getRequestCount()).isZero();
    assertThat(sink.status).isZero();
  }

  @Test
  void aClientWriteFailureOnTheCallingThreadEndsTheExchangeAndFreesItsPermit() throws Exception {
    server.enqueue(ok("{\"x\":1}"));
    RealUpstreamClient client = leaks.client(fast(server).build());
    client.runExchangesOn(t -> true);
    RecordingSink sink = new RecordingSink() {
      @Override
      public synchronized void onBody(byte[] buffer, int offset, int length) throws IOException {
        throw new IOException("client gone");
      }
    };

    UpstreamExchange exchange = client.runOrStart(chat("m"), sink, e -> {});

    assertThat(exchange.completion().toCompletableFuture().isDone()).isTrue();
    assertThat(exchange.completion().toCompletableFuture().get().outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(client.gate().availablePermits()).isEqualTo(client.config().maxConcurrentRequests());
  }

  @Test
  void onlyVirtualThreadsCountAsThreadsThatMayBlock() throws Exception {
    assertThat(Threads.isVirtual(Thread.currentThread())).isFalse();
    if (Threads.virtualThreadsAvailable()) {
      ExecutorService virtual = Threads.newPerTaskExecutor("vt-check-");
      try {
        assertThat(virtual.submit(() -> Threads.isVirtual(Thread.currentThread())).get(5, TimeUnit.SECONDS)).isTrue();
      } finally {
        virtual.shutdown();
      }
    } else {
      assertThat(Runtime.version().feature()).isLessThan(21);
    }
  }

  @Test
  void aClosedClientRendersRelayClosedBeforeTellingOnStarted() throws Exception {
    RealUpstreamClient client = leaks.client(fast(server).build());
    client.close();
    List<String> order = new java.util.concurrent.CopyOnWriteArrayList<>();
    RecordingSink sink = new RecordingSink() {
      @Override
      public void onFailure(RelayException error) {
        order.add("failure " + error.code());
        super.onFailure(error);
      }
    };

    UpstreamExchange refused = client.runOrStart(chat("late"), sink, e -> order.add("started"));

    assertThat(order).as("the error is rendered before onStarted can end the response")
        .containsExactly("failure relay_closed", "started");
    assertThat(refused.completion().toCompletableFuture().get(1, TimeUnit.SECONDS).status()).isEqualTo(503);
    assertThat(server.getRequestCount()).isZero();
  }

  @Test
  void cancelledInOnStartedWhileNoPermitIsFreeItNeverJoinsTheQueue() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    RealUpstreamClient client = leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofSeconds(30))
        .streamIdleTimeout(Duration.ofSeconds(5)).build());
    RecordingSink holder = new RecordingSink();
    client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);

    UpstreamExchange gone = client.runOrStart(chat("gone"), new RecordingSink(), UpstreamExchange::cancel);

    assertThat(gone.completion().toCompletableFuture().get(2, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(client.gate().queued()).as("never queued for the permit").isZero();
    release.countDown();
  }

  @Test
  void anOnStartedThatThrowsLeavesNothingRegistered() {
    server.enqueue(ok("{}"));
    RealUpstreamClient client = leaks.client(fast(server).build());
    client.runExchangesOn(t -> true);

    org.assertj.core.api.Assertions.assertThatThrownBy(() -> client.runOrStart(chat("m"), new RecordingSink(), e -> {
      throw new IllegalStateException("caller failed");
    })).hasMessage("caller failed");

    assertThat(client.activeExchanges()).isZero();
    assertThat(server.getRequestCount()).isZero();
  }

  @Test
  void theBuilderOptionRunsOnVirtualCallersOnlyAndIsOffByDefault() throws Exception {
    // Virtual callers where the runtime has them (Java 21+); a platform caller everywhere, which
    // must never run an exchange, with or without the option.
    List<Boolean> virtualCallers = Threads.virtualThreadsAvailable() ? List.of(false, true) : List.of(false);
    for (boolean virtualCaller : virtualCallers) {
      for (boolean enabled : new boolean[] {false, true}) {
        server.enqueue(ok("{}"));
        RealUpstreamClient client = (RealUpstreamClient)
            UpstreamClient.builder(fast(server).build()).runOnCallingVirtualThreads(enabled).build();
        ExecutorService callers = virtualCaller
            ? Threads.newPerTaskExecutor("caller-")
            : Executors.newSingleThreadExecutor(r -> new Thread(r, "platform-caller"));
        try {
          ThreadRecordingSink sink = new ThreadRecordingSink();
          AtomicReference<Thread> caller = new AtomicReference<>();
          UpstreamExchange exchange = callers.submit(() -> {
            caller.set(Thread.currentThread());
            return client.runOrStart(chat("m"), sink, e -> {});
          }).get(10, TimeUnit.SECONDS);
          exchange.completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
          assertThat(sink.status).isEqualTo(200);
          assertThat(sink.responseThread == caller.get())
              .as("ran on the %s caller with the option %s", virtualCaller ? "virtual" : "platform", enabled)
              .isEqualTo(enabled && virtualCaller);
          await().until(() -> client.activeExchanges() == 0);
        } finally {
          callers.shutdown();
          client.close();
        }
      }
    }
  }
}
