package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The permit gate as the client sees it: waiting, expiry, the queue cap, cancellation. */
class ConcurrencyLimitTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();

  private static MockResponse ok() {
    return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{\"ok\":true}").build();
  }

  @Test
  void theRequestBeyondTheLimitWaitsThenProceeds() throws Exception {
    // Given one permit, held by a request whose upstream answers after 300 ms
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
        .body("{\"first\":true}").headersDelay(300, TimeUnit.MILLISECONDS).build());
    server.enqueue(ok());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofSeconds(5)).build());
    RecordingSink first = new RecordingSink();
    client.start(chat("first"), first);
    await().until(() -> client.gate().availablePermits() == 0);

    // When a second request arrives
    RecordingSink second = new RecordingSink();
    UpstreamExchange exchange = client.start(chat("second"), second);

    // Then it waits in the queue, and proceeds once the first finishes
    await().atMost(Duration.ofSeconds(2)).until(() -> client.gate().queued() == 1);
    assertThat(server.getRequestCount()).as("the second is not sent while waiting").isEqualTo(1);
    ExchangeResult result = exchange.completion().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(second.status).isEqualTo(200);
    assertThat(first.status).isEqualTo(200);
    assertThat(result.queueWait()).as("time spent queued").isGreaterThan(Duration.ofMillis(100));
    assertThat(server.getRequestCount()).isEqualTo(2);
  }

  @Test
  void waitExpiryAnswers503ConcurrencyLimitWithRetryAfterAndNoUpstreamRequest() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    UpstreamClient client = leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofMillis(300))
        .streamIdleTimeout(Duration.ofSeconds(5)).build());
    RecordingSink holder = new RecordingSink();
    UpstreamExchange held = client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);

    long start = System.nanoTime();
    RecordingSink sink = new RecordingSink();
    ExchangeResult result = client.start(chat("waiter"), sink).completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    long waitedMs = (System.nanoTime() - start) / 1_000_000;

    assertThat(sink.failure).isInstanceOf(ConcurrencyLimitException.class);
    assertThat(sink.failure.status()).isEqualTo(503);
    assertThat(sink.failure.code()).isEqualTo("concurrency_limit");
    assertThat(sink.failure.retryAfter()).as("Retry-After").hasValueSatisfying(d -> assertThat(d).isBetween(Duration.ofSeconds(1), Duration.ofSeconds(60)));
    assertThat(sink.failure.shouldRetry()).as("clients should back off and retry").isTrue();
    assertThat(sink.failure.attempts()).isZero();
    assertThat(waitedMs).as("waited about MAX_WAIT").isBetween(250L, 2000L);
    assertThat(server.getRequestCount()).as("only the holder reached the upstream").isEqualTo(1);
    assertThat(result.outcome()).isEqualTo(Outcome.REJECTED);
    assertThat(client.stats().rejected()).isEqualTo(1);

    release.countDown();
    held.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  @Test
  void afterTwentyWaitersTimeOutEveryPermitIsAvailableAgain() throws Exception {
    // Regression for failsafe-lib/failsafe#393: a sync Bulkhead leaks one permit per waiter that
    // times out. Two holders, twenty waiters that all expire, then everything must be free.
    CountDownLatch release = new CountDownLatch(1);
    for (int i = 0; i < 2; i++) {
      server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    }
    for (int i = 0; i < 10; i++) {
      server.enqueue(ok());
    }
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).maxConcurrentRequests(2).maxWait(Duration.ofMillis(200))
        .streamIdleTimeout(Duration.ofSeconds(5)).build());
    List<UpstreamExchange> holders = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      RecordingSink s = new RecordingSink();
      holders.add(client.start(chat("holder" + i), s));
    }
    await().until(() -> client.gate().availablePermits() == 0);

    List<RecordingSink> waiters = new ArrayList<>();
    List<UpstreamExchange> waiting = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      RecordingSink s = new RecordingSink();
      waiters.add(s);
      waiting.add(client.start(chat("waiter" + i), s));
    }
    for (UpstreamExchange w : waiting) {
      w.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    }
    assertThat(waiters).allSatisfy(s -> assertThat(s.failure).isInstanceOf(ConcurrencyLimitException.class));

    release.countDown();
    for (UpstreamExchange h : holders) {
      h.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    }
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() ->
        assertThat(client.gate().availablePermits()).as("every permit back").isEqualTo(2));

    // And the capacity is really usable: two concurrent requests both pass at once.
    RecordingSink a = new RecordingSink();
    RecordingSink b = new RecordingSink();
    UpstreamExchange ea = client.start(chat("after-a"), a);
    UpstreamExchange eb = client.start(chat("after-b"), b);
    assertThat(ea.completion().toCompletableFuture().get(5, TimeUnit.SECONDS).queueWait()).isLessThan(Duration.ofMillis(150));
    assertThat(eb.completion().toCompletableFuture().get(5, TimeUnit.SECONDS).queueWait()).isLessThan(Duration.ofMillis(150));
    assertThat(a.status).isEqualTo(200);
    assertThat(b.status).isEqualTo(200);
  }

  @Test
  void moreWaitersThanTheQueueCapAreRejectedAtOnceWithQueueFull() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    server.enqueue(ok());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).maxConcurrentRequests(1).maxQueuedRequests(1)
        .maxWait(Duration.ofSeconds(5)).streamIdleTimeout(Duration.ofSeconds(5)).build());
    RecordingSink holder = new RecordingSink();
    UpstreamExchange held = client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);
    RecordingSink queued = new RecordingSink();
    UpstreamExchange queuedExchange = client.start(chat("queued"), queued);
    await().until(() -> client.gate().queued() == 1);

    long start = System.nanoTime();
    RecordingSink rejected = new RecordingSink();
    client.start(chat("rejected"), rejected).completion().toCompletableFuture().get(5, TimeUnit.SECONDS);

    assertThat((System.nanoTime() - start) / 1_000_000).as("rejected at once").isLessThan(500);
    assertThat(rejected.failure).isInstanceOf(QueueFullException.class);
    assertThat(rejected.failure.status()).isEqualTo(503);
    assertThat(rejected.failure.code()).isEqualTo("queue_full");
    assertThat(rejected.failure.retryAfter()).isPresent();

    release.countDown();
    held.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    queuedExchange.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(queued.status).isEqualTo(200);
  }

  @Test
  void cancelWhileQueuedLeavesTheQueueAndNeverReachesTheUpstream() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofSeconds(5))
        .streamIdleTimeout(Duration.ofSeconds(5)).build());
    RecordingSink holder = new RecordingSink();
    UpstreamExchange held = client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);

    RecordingSink sink = new RecordingSink();
    UpstreamExchange queued = client.start(chat("queued"), sink);
    await().until(() -> client.gate().queued() == 1);
    queued.cancel();

    ExchangeResult result = queued.completion().toCompletableFuture().get(2, TimeUnit.SECONDS);
    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(client.gate().queued()).as("left the queue").isZero();
    release.countDown();
    held.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(server.getRequestCount()).as("the cancelled request never reached the upstream").isEqualTo(1);
    assertThat(sink.status).isZero();
    assertThat(sink.failure).as("a cancelled exchange tells its sink nothing").isNull();
  }

  @Test
  void waitingForAPermitHoldsNoThread() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofSeconds(5))
        .streamIdleTimeout(Duration.ofSeconds(5)).build());
    RecordingSink holder = new RecordingSink();
    UpstreamExchange held = client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);
    int threadsBefore = Thread.activeCount();

    List<UpstreamExchange> waiting = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      waiting.add(client.start(chat("w" + i), new RecordingSink()));
    }
    await().until(() -> client.gate().queued() == 50);

    assertThat(Thread.activeCount() - threadsBefore).as("threads added by 50 waiters").isLessThan(5);
    waiting.forEach(UpstreamExchange::cancel);
    release.countDown();
    held.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }
}
