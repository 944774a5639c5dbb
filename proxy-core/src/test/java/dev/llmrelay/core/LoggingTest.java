package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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

/** Debug mode's per-attempt lines, the queue's wait line, and that keys never reach the log. */
class LoggingTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();
  @RegisterExtension final LogCapture log = new LogCapture();

  @Test
  void debugModeLogsEachAttemptItsFailureTheRetryAndTheSuccess() throws Exception {
    server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{}").build());
    UpstreamClient client = leaks.client(fast(server).debugMode(true).upstreamApiKey("sk-canary-debug-123").build());

    client.start(chat("dbg-1"), new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(log.text())
        .contains("[dbg-1] attempt 1/3 to upstream [timeout 0.4s]")
        .contains("[dbg-1] timeout on attempt 1/3: no response headers within 0.4s")
        .containsPattern("\\[dbg-1\\] retrying in 0\\.0s after timeout")
        .contains("[dbg-1] attempt 2/3 to upstream [timeout 0.4s]")
        .contains("[dbg-1] success on attempt 2/3")
        .contains("request dbg-1 POST /v1/chat/completions")
        .doesNotContain("sk-canary-debug-123");
  }

  @Test
  void withoutDebugModeAttemptsAreNotLoggedButTheRequestLineIs() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{}").build());
    UpstreamClient client = leaks.client(fast(server).build());

    client.start(chat("quiet-1"), new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(log.text()).doesNotContain("attempt 1/3 to upstream").contains("request quiet-1 POST /v1/chat/completions");
  }

  @Test
  void aQueuedRequestIsReportedPeriodicallyWithActiveAndQueuedCounts() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    server.enqueue(new Sse().send("data: {\"a\":1}\n\n").await(release).send("data: [DONE]\n\n").response());
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body("{}").build());
    UpstreamClient client = leaks.client(fast(server).maxConcurrentRequests(1).maxWait(Duration.ofSeconds(5))
        .streamIdleTimeout(Duration.ofSeconds(5)).waitLogInterval(Duration.ofMillis(100)).build());
    RecordingSink holder = new RecordingSink();
    UpstreamExchange held = client.start(chat("holder"), holder);
    await().until(() -> holder.status == 200);

    UpstreamExchange queued = client.start(chat("queued-1"), new RecordingSink());

    await().atMost(Duration.ofSeconds(3)).until(() -> log.text().contains("waiting for a permit: oldest request queued-1"));
    assertThat(log.text()).containsPattern("oldest request queued-1 waited \\d+\\.\\ds, 1/1 active, 1 queued");
    release.countDown();
    held.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
    queued.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }
}
