package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real SIGTERM path (issue 11, defect 3, and the start-up line of issue 11): the launcher runs
 * in a child JVM (the same java as the tests), gets SIGTERM ({@link ProcessHandle#destroy()} on Linux)
 * while a request waits for upstream headers, answers it with 503 {@code relay_closed} from its
 * shutdown hook and exits. Its start-up line names the upstream without the credentials in its URL.
 *
 * <p>On JDK 25: {@code JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 mvn -B -ntp -pl proxy-example
 * -am test -Dtest=SigtermTest -Dsurefire.failIfNoSpecifiedTests=false}.
 */
class SigtermTest {
  private static final Pattern LISTENING = Pattern.compile("llmrelay listening on http://127\\.0\\.0\\.1:(\\d+) .*");

  @TempDir Path dir;

  private final ExecutorService threads = Executors.newCachedThreadPool();
  private Process relay;

  @AfterEach
  void stop() {
    if (relay != null) {
      relay.destroyForcibly();
    }
    threads.shutdownNow();
  }

  @Test
  void sigtermAnswersAWaitingRequestWith503RelayClosedThenTheProcessExits() throws Exception {
    try (SilentUpstream silent = new SilentUpstream()) {
      // Given the launcher in its own JVM, pointed at an upstream that never answers
      ProcessBuilder launcher = new ProcessBuilder(
          ProcessHandle.current().info().command().orElseThrow(),
          "-cp", System.getProperty("java.class.path"),
          RelayMain.class.getName());
      launcher.directory(dir.toFile()); // no stray .env or DEBUG_MODE.txt
      Map<String, String> env = launcher.environment();
      env.keySet().removeIf(name -> !name.equals("PATH"));
      env.put("RELAY_PORT", "0");
      env.put("HEALTH_INTERVAL_SECONDS", "0");
      env.put("MAX_ATTEMPTS", "1");
      env.put("SHUTDOWN_TIMEOUT_SECONDS", "0.5");
      env.put("UPSTREAM_BASE_URL", "http://relay-user:hunter2@127.0.0.1:" + silent.port() + "/v1");
      launcher.redirectErrorStream(true);
      relay = launcher.start();
      List<String> output = new CopyOnWriteArrayList<>();
      CompletableFuture<Integer> port = new CompletableFuture<>();
      Process child = relay;
      CompletableFuture<Void> outputEnded = CompletableFuture.runAsync(() -> collect(child, output, port), threads);
      int relayPort = port.get(30, TimeUnit.SECONDS);

      CompletableFuture<RawHttp.Response> answer = CompletableFuture.supplyAsync(() -> {
        try {
          return RawHttp.exchange(relayPort, RawHttp.post("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}",
              "X-Request-Id: sigterm-1"));
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }, threads);
      assertThat(silent.firstRequest.await(10, TimeUnit.SECONDS)).as("the request reached the upstream").isTrue();

      // When the process gets SIGTERM (through its handle: Process.destroy() would also close our
      // end of its output, and the lines its shutdown hook logs would be lost to the test)
      assertThat(relay.toHandle().destroy()).isTrue();

      // Then the waiting client hears why, and the process ends after its hook ran
      RawHttp.Response r = answer.get(15, TimeUnit.SECONDS);
      assertThat(r.status()).as(r.statusLine() + " " + r.body()).isEqualTo(503);
      assertThat(r.header("Content-Type")).startsWith("application/json");
      assertThat(r.body()).contains("\"code\":\"relay_closed\"");
      assertThat(r.header("X-Request-Id")).isEqualTo("sigterm-1");
      assertThat(relay.waitFor(15, TimeUnit.SECONDS)).as("the process exited").isTrue();
      assertThat(relay.exitValue()).as("terminated by SIGTERM").isEqualTo(143);
      outputEnded.get(10, TimeUnit.SECONDS);
      assertThat(String.join("\n", output)).as("the hook ran and its log was flushed").contains("llmrelay stopped");
      String listening = output.stream().filter(l -> l.contains("llmrelay listening on")).findFirst().orElseThrow();
      assertThat(listening)
          .as("the start-up line")
          .contains("-> http://***@127.0.0.1:" + silent.port() + "/v1")
          .doesNotContain("hunter2")
          .doesNotContain("relay-user");
    }
  }

  /** Collects the child's output lines and completes {@code port} from its start-up line. */
  private static void collect(Process process, List<String> output, CompletableFuture<Integer> port) {
    try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = lines.readLine(); line != null; line = lines.readLine()) {
        output.add(line);
        Matcher m = LISTENING.matcher(line.substring(Math.max(0, line.indexOf("llmrelay listening"))));
        if (m.matches()) {
          port.complete(Integer.parseInt(m.group(1)));
        }
      }
      port.completeExceptionally(new IllegalStateException("the relay exited before listening:\n" + String.join("\n", output)));
    } catch (IOException e) {
      port.completeExceptionally(e);
    }
  }
}
