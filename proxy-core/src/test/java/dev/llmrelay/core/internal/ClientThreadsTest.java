package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.RecordingSink;
import dev.llmrelay.core.TestConfigs;
import dev.llmrelay.core.UpstreamClient;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import mockwebserver3.junit5.StartStop;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The threads an {@link UpstreamClient} starts: OkHttp's background work runs on the client's own
 * threads, none of them carries the creating thread's context class loader, and {@link
 * UpstreamClient#close()} returns only once every one of them has ended. This is what lets a
 * webapp that closes its client on undeploy leave nothing behind (Tomcat warns about any thread
 * whose context class loader is the webapp's and that is still alive once the webapp stopped).
 */
class ClientThreadsTest {
  @StartStop public final MockWebServer server = new MockWebServer();
  @TempDir Path logDir;

  /** Stands in for a webapp's class loader: the context class loader while the client is made and used. */
  private final URLClassLoader webappLoader = new URLClassLoader(new URL[0], getClass().getClassLoader());
  private ClassLoader originalLoader;
  private Set<Thread> before;

  @BeforeEach
  void enterTheWebapp() {
    server.setDispatcher(new Dispatcher() {
      @Override
      public MockResponse dispatch(RecordedRequest request) {
        return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json")
            .body("{\"id\":\"c1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hi\"}}]}").build();
      }
    });
    before = Thread.getAllStackTraces().keySet();
    originalLoader = Thread.currentThread().getContextClassLoader();
    Thread.currentThread().setContextClassLoader(webappLoader);
  }

  @AfterEach
  void leaveTheWebapp() throws Exception {
    Thread.currentThread().setContextClassLoader(originalLoader);
    webappLoader.close();
  }

  /** A client that uses every thread it can have: exchanges, heartbeat, probe calls, pool cleanup, request log. */
  private UpstreamClient busyClient() throws Exception {
    UpstreamClient client = UpstreamClient.create(
        TestConfigs.fast(server).healthInterval(Duration.ofMillis(50)).logDir(logDir).build());
    RecordingSink sink = new RecordingSink();
    client.start(TestConfigs.chat("threads-1"), sink);
    assertThat(sink.await().status).as("the chat answer").isEqualTo(200);
    await("the heartbeat probed twice").atMost(Duration.ofSeconds(5)).until(() -> server.getRequestCount() >= 3);
    return client;
  }

  private List<Thread> newThreads(String... namePrefixes) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> !before.contains(t) && t.isAlive())
        .filter(t -> List.of(namePrefixes).stream().anyMatch(p -> t.getName().startsWith(p)))
        .toList();
  }

  private static String describe(List<Thread> threads) {
    return threads.stream()
        .map(t -> t.getName() + " (context loader " + t.getContextClassLoader() + ")")
        .collect(Collectors.joining(", "));
  }

  @Test
  void okHttpBackgroundWorkRunsOnTheClientsOwnThreads() throws Exception {
    UpstreamClient client = busyClient();
    try {
      // The pooled connection's cleanup task waits on OkHttp's task runner, and the heartbeat's
      // calls run on the dispatcher's threads (OkHttp renames a thread while it runs a task).
      // OkHttp names a runner thread after the task it runs, so look often: between tasks it has
      // its own name again (with the heartbeat every 50 ms, a slow look may always see a task's).
      await("the client's own OkHttp task runner thread; OkHttp's shared one is 'OkHttp TaskRunner'")
          .atMost(Duration.ofSeconds(10))
          .pollInterval(Duration.ofMillis(2))
          .until(() -> !newThreads("llmrelay-okhttp-tasks-").isEmpty());
      await("the probe's async calls on the client's own dispatcher threads, not 'OkHttp Dispatcher'")
          .atMost(Duration.ofSeconds(5))
          .until(() -> !newThreads("llmrelay-okhttp-calls-").isEmpty());
      assertThat(newThreads("OkHttp TaskRunner", "OkHttp Dispatcher")).as("OkHttp's shared threads").isEmpty();
    } finally {
      client.close();
    }
  }

  @Test
  void noThreadOfTheClientCarriesTheCreatorsContextClassLoader() throws Exception {
    UpstreamClient client = busyClient();
    try {
      List<Thread> pinning = newThreads("llmrelay-", "OkHttp", "Okio").stream()
          .filter(t -> t.getContextClassLoader() == webappLoader)
          .toList();
      assertThat(pinning)
          .as("threads that would keep the webapp's class loader (and pass it to any thread they start, such as"
              + " Okio's watchdog): %s", describe(pinning))
          .isEmpty();
    } finally {
      client.close();
    }
  }

  @Test
  void closeReturnsOnlyOnceEveryThreadOfTheClientHasEnded() throws Exception {
    UpstreamClient client = busyClient();
    assertThat(newThreads("llmrelay-", "OkHttp")).as("threads while the client works").isNotEmpty();

    client.close();

    List<Thread> alive = newThreads("llmrelay-", "OkHttp");
    assertThat(alive).as("threads still alive right after close(): %s", describe(alive)).isEmpty();
  }

  @Test
  void thisOkHttpLetsTheClientHaveItsOwnTaskRunner() {
    OkHttpTaskRunner runner = OkHttpTaskRunner.create(Threads.daemonFactory("okhttp-upgrade-check-"));
    try {
      assertThat(runner.isolated())
          .as("OkHttp's internal TaskRunner API that OkHttpTaskRunner uses changed (an OkHttp upgrade?): %s;"
              + " without it the client falls back to OkHttp's shared 'OkHttp TaskRunner' threads, which outlive"
              + " close() by 60 s and make Tomcat warn on undeploy", runner.unavailableReason())
          .isTrue();
    } finally {
      runner.shutdown();
    }
  }
}
