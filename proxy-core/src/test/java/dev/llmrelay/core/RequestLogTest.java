package dev.llmrelay.core;

import static dev.llmrelay.core.Sse.DONE;
import static dev.llmrelay.core.Sse.chunk;
import static dev.llmrelay.core.TestConfigs.chat;
import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.testing.LeakCheck;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.List;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The per-request record: attempt trail, timings, tokens; as a log line and as JSON lines. */
class RequestLogTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();
  @RegisterExtension final LogCapture log = new LogCapture();
  @TempDir Path logDir;

  private static final String OK_WITH_USAGE =
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30,\"total_tokens\":42}}";

  private List<JsonNode> jsonRecords() throws Exception {
    Path file = logDir.resolve("requests-" + LocalDate.now() + ".jsonl");
    ObjectMapper mapper = new ObjectMapper();
    return Files.readAllLines(file).stream().map(l -> {
      try {
        return mapper.readTree(l);
      } catch (Exception e) {
        throw new AssertionError("not JSON: " + l, e);
      }
    }).toList();
  }

  @Test
  void aRequestRetriedAfterATimeoutNamesBothAttemptsAndTheirReasons() throws Exception {
    server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    server.enqueue(new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body(OK_WITH_USAGE).build());
    UpstreamClient client = leaks.client(fast(server).logDir(logDir).debugMode(true).build());

    ExchangeResult result = client.start(chat("log-1"), new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.attemptTrail()).extracting(AttemptRecord::result).containsExactly("timeout", "200");
    assertThat(result.attemptTrail().get(0).duration()).isGreaterThanOrEqualTo(Duration.ofMillis(350));
    assertThat(result.tokens()).isEqualTo(new TokenUsage(12, 30, 42));
    assertThat(result.attemptSummary()).matches("1:timeout@\\d+ms,2:200@\\d+ms");
    assertThat(log.text())
        .as("the SLF4J line and debug mode agree on numbering and reasons")
        .containsPattern("request log-1 POST /v1/chat/completions model=m stream=false status=200 outcome=success attempts=1:timeout@\\d+ms,2:200@\\d+ms")
        .contains("tokens=12/30")
        .contains("[log-1] timeout on attempt 1/3")
        .contains("[log-1] success on attempt 2/3");

    await().atMost(Duration.ofSeconds(3)).until(() -> Files.exists(logDir.resolve("requests-" + LocalDate.now() + ".jsonl")));
    await().atMost(Duration.ofSeconds(3)).until(() -> !jsonRecords().isEmpty());
    JsonNode record = jsonRecords().get(0);
    assertThat(record.path("request_id").asText()).isEqualTo("log-1");
    assertThat(record.path("status").asInt()).isEqualTo(200);
    assertThat(record.path("outcome").asText()).isEqualTo("success");
    assertThat(record.path("attempts").asInt()).isEqualTo(2);
    assertThat(record.path("attempt_trail").get(0).path("result").asText()).isEqualTo("timeout");
    assertThat(record.path("attempt_trail").get(0).path("ms").asLong()).isGreaterThanOrEqualTo(350);
    assertThat(record.path("attempt_trail").get(1).path("result").asText()).isEqualTo("200");
    assertThat(record.path("tokens").path("total").asLong()).isEqualTo(42);
    assertThat(record.has("queue_wait_ms")).isTrue();
    assertThat(record.has("time_to_headers_ms")).isTrue();
    assertThat(record.has("total_ms")).isTrue();
    assertThat(record.toString()).as("no prompt in the record").doesNotContain("\"hi\"");
  }

  @Test
  void aFailedRequestRecordsWhatTheClientGotAndEveryAttempt() throws Exception {
    for (int i = 0; i < 3; i++) {
      server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    }
    UpstreamClient client = leaks.client(fast(server).logDir(logDir).build());

    ExchangeResult result = client.start(chat("log-2"), new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.errorCode()).isEqualTo("upstream_timeout");
    assertThat(result.status()).isEqualTo(504);
    assertThat(result.attemptTrail()).extracting(AttemptRecord::result).containsExactly("timeout", "timeout", "timeout");
    await().atMost(Duration.ofSeconds(3)).until(() -> Files.exists(logDir.resolve("requests-" + LocalDate.now() + ".jsonl")) && !jsonRecords().isEmpty());
    JsonNode record = jsonRecords().get(0);
    assertThat(record.path("error_code").asText()).isEqualTo("upstream_timeout");
    assertThat(record.path("outcome").asText()).isEqualTo("timeout");
    assertThat(record.path("attempt_trail")).hasSize(3);
  }

  @Test
  void streamTokensComeFromTheLastChunkAndTheFirstEventIsTimed() throws Exception {
    server.enqueue(new Sse().send(chunk(0, "a"))
        .send("data: {\"id\":\"c\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}\n\n")
        .send(DONE).response());
    UpstreamClient client = leaks.client(fast(server).build());

    ExchangeResult result = client.start(chat("log-3"), new RecordingSink()).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.tokens()).isEqualTo(new TokenUsage(5, 7, 12));
    assertThat(result.timeToFirstEvent()).isNotNull();
    assertThat(result.timeToHeaders()).isNotNull();
    assertThat(result.timeToFirstEvent()).isGreaterThanOrEqualTo(result.timeToHeaders());
  }

  @Test
  void aClientThatLeavesDuringTheBackoffIsRecordedWithItsPhase() throws Exception {
    server.enqueue(new MockResponse.Builder().code(500).setHeader("Content-Type", "application/json").body("{}").build());
    UpstreamClient client = leaks.client(fast(server).backoffInitial(Duration.ofMillis(800)).backoffMax(Duration.ofMillis(800)).build());

    UpstreamExchange exchange = client.start(chat("log-4"), new RecordingSink());
    await().until(() -> client.stats().retries() == 1);
    exchange.cancel();
    ExchangeResult result = exchange.completion().toCompletableFuture().get(5, TimeUnit.SECONDS);

    assertThat(result.outcome()).isEqualTo(Outcome.CLIENT_CANCELLED);
    assertThat(result.clientGonePhase()).isEqualTo("backoff");
    assertThat(result.attemptTrail()).extracting(AttemptRecord::result).containsExactly("500");
  }

  @Test
  void theProxysOwnErrorBodyIsCountedInBytesAndTheJsonTrailNamesEachRoute() throws Exception {
    for (int i = 0; i < 3; i++) {
      server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    }
    UpstreamClient client = leaks.client(fast(server).logDir(logDir).modelFallbacks(java.util.Map.of("m", List.of("n"))).build());
    RecordingSink sink = new RecordingSink();

    ExchangeResult result = client.start(chat("log-5"), sink).completion().toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertThat(result.status()).isEqualTo(504);
    assertThat(result.bytesOut()).as("the JSON error body the client got").isEqualTo(sink.failure.toJson().length).isPositive();
    assertThat(log.text()).containsPattern("request log-5 .* status=504 .* bytes=" + result.bytesOut());
    await().atMost(Duration.ofSeconds(3)).until(() -> Files.exists(logDir.resolve("requests-" + LocalDate.now() + ".jsonl")) && !jsonRecords().isEmpty());
    JsonNode record = jsonRecords().get(0);
    assertThat(record.path("bytes_out").asLong()).isEqualTo(result.bytesOut());
    assertThat(record.path("attempt_trail").get(0).path("route").asText()).isEqualTo("m@primary");
    assertThat(record.path("attempt_trail").get(1).path("route").asText()).as("which fallback answered").isEqualTo("n@primary");
    assertThat(log.text()).contains("1:timeout@").contains("(m@primary)").contains("(n@primary)");
  }

  @Test
  void refusedKeysAreCountedAllButLoggedAtABoundedRate() {
    UpstreamClient client = leaks.client(fast(server).logDir(logDir).build());

    for (int i = 0; i < 200; i++) {
      client.recordRejection("key-" + i, "POST", "/v1/chat/completions", new RelayException(401, "invalid_proxy_key", "Missing or invalid proxy key.", null, false, 0, null) {});
    }

    assertThat(client.stats().rejected()).as("every refusal counted").isEqualTo(200);
    long lines = log.text().lines().filter(l -> l.contains("code=invalid_proxy_key")).count();
    assertThat(lines).as("a bounded share reaches the log").isBetween(1L, 20L);
  }
}
