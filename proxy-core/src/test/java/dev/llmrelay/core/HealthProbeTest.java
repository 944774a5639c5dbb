package dev.llmrelay.core;

import static dev.llmrelay.core.TestConfigs.fast;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.internal.RealUpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.SocketEffect;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The zero-token upstream probe: its four answers, single flight, reuse, heartbeat. */
class HealthProbeTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @RegisterExtension final LeakCheck leaks = CoreLeakCheck.create();

  private static HealthReport check(UpstreamClient client) throws Exception {
    return client.healthProbe().check().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  @Test
  void aReachableUpstreamIsOkAndTheProbeSpendsNoTokens() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).body("{\"data\":[]}").build());
    RealUpstreamClient client = (RealUpstreamClient) leaks.client(fast(server).upstreamApiKey("sk-probe-key").build());

    HealthReport report = check(client);
    RecordedRequest probe = server.takeRequest();

    assertThat(report.upstream()).isEqualTo(HealthReport.State.REACHABLE);
    assertThat(report.healthy()).isTrue();
    assertThat(report.endpointStatus()).isEqualTo(200);
    assertThat(report.responseTimeMillis()).isGreaterThanOrEqualTo(0);
    assertThat(probe.getMethod()).as("a GET, no completion").isEqualTo("GET");
    assertThat(probe.getTarget()).isEqualTo("/v1/models");
    assertThat(probe.getHeaders().get("Authorization")).isEqualTo("Bearer sk-probe-key");
    assertThat(client.gate().availablePermits()).as("no chat permit taken").isEqualTo(client.gate().maxPermits());
  }

  @Test
  void aSilentUpstreamIsTimeout() throws Exception {
    server.enqueue(new MockResponse.Builder().onResponseStart(SocketEffect.Stall.INSTANCE).build());
    UpstreamClient client = leaks.client(fast(server).healthTimeout(Duration.ofMillis(300)).build());

    long start = System.nanoTime();
    HealthReport report = check(client);

    assertThat(report.upstream()).isEqualTo(HealthReport.State.TIMEOUT);
    assertThat(report.endpointStatus()).isEqualTo(503);
    assertThat(report.message()).contains("0.3s");
    assertThat((System.nanoTime() - start) / 1_000_000).as("bounded by HEALTH_TIMEOUT").isLessThan(2000);
  }

  @Test
  void aRefusedConnectionIsUnreachable() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    UpstreamClient client = leaks.client(fast("http://127.0.0.1:" + port + "/v1").build());

    HealthReport report = check(client);

    assertThat(report.upstream()).isEqualTo(HealthReport.State.UNREACHABLE);
    assertThat(report.message()).isEqualTo("connection refused");
  }

  @Test
  void anErrorStatusIsHttpErrorWithTheStatusAndNoKeyInTheMessage() throws Exception {
    server.enqueue(new MockResponse.Builder().code(401).body("{\"error\":{\"message\":\"bad key sk-probe-key\"}}").build());
    UpstreamClient client = leaks.client(fast(server).upstreamApiKey("sk-probe-key").build());

    HealthReport report = check(client);

    assertThat(report.upstream()).isEqualTo(HealthReport.State.HTTP_ERROR);
    assertThat(report.httpStatus()).isEqualTo(401);
    assertThat(report.message()).contains("401").doesNotContain("sk-probe-key");
  }

  @Test
  void fiftyConcurrentProbesShareOneUpstreamRequest() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).body("{}").headersDelay(300, TimeUnit.MILLISECONDS).build());
    server.enqueue(new MockResponse.Builder().code(200).body("{}").build());
    UpstreamClient client = leaks.client(fast(server).healthCache(Duration.ofSeconds(10)).build());

    List<CompletableFuture<HealthReport>> probes = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      probes.add(client.healthProbe().check().toCompletableFuture());
    }
    for (CompletableFuture<HealthReport> p : probes) {
      assertThat(p.get(5, TimeUnit.SECONDS).healthy()).isTrue();
    }
    // And a probe within the reuse window is answered from the cache.
    assertThat(check(client).healthy()).isTrue();

    assertThat(server.getRequestCount()).as("one upstream request for 51 checks").isEqualTo(1);
  }

  @Test
  void afterTheReuseWindowTheUpstreamIsProbedAgain() throws Exception {
    server.enqueue(new MockResponse.Builder().code(200).body("{}").build());
    server.enqueue(new MockResponse.Builder().code(503).body("{}").build());
    UpstreamClient client = leaks.client(fast(server).healthCache(Duration.ofMillis(100)).build());

    assertThat(check(client).healthy()).isTrue();
    await().pollDelay(Duration.ofMillis(150)).until(() -> true);
    HealthReport second = check(client);

    assertThat(second.upstream()).isEqualTo(HealthReport.State.HTTP_ERROR);
    assertThat(second.httpStatus()).isEqualTo(503);
    assertThat(server.getRequestCount()).isEqualTo(2);
  }

  @Test
  void theHeartbeatProbesPeriodicallyAndRecordsTheLastState() throws Exception {
    for (int i = 0; i < 20; i++) {
      server.enqueue(new MockResponse.Builder().code(200).body("{}").build());
    }
    UpstreamClient client = leaks.client(fast(server).healthInterval(Duration.ofMillis(100)).build());

    await().atMost(Duration.ofSeconds(3)).until(() -> server.getRequestCount() >= 3);
    assertThat(client.healthProbe().lastReport()).hasValueSatisfying(r -> assertThat(r.healthy()).isTrue());
  }
}
