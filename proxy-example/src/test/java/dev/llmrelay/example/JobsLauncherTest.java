package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.testing.LeakCheck;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Durable jobs in the launcher (issue 13, tests 3, 4 and 14): a process that acknowledged a job
 * and died at once, or died while its jobs ran, leaves them to the next instance on the same store,
 * which completes each once. The dying process is a child JVM on this test's class path ({@link
 * HaltableRelay}, or {@code kill -9}); the next instance runs in this JVM, checked by the leak check.
 * Also: the default store under {@code ./llmrelay-data/}, the job meters on {@code /metrics}, and a
 * store that cannot be used stopping the start by name.
 */
class JobsLauncherTest {
  private static final Pattern LISTENING = Pattern.compile(".*llmrelay listening on http://127\\.0\\.0\\.1:(\\d+) .*");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ANSWER =
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"m\","
          + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"done\"},\"finish_reason\":\"stop\"}]}";

  @TempDir Path dir;
  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  private final ExecutorService threads = Executors.newCachedThreadPool();
  private final OkHttpClient http = new OkHttpClient.Builder().readTimeout(Duration.ofSeconds(30)).build();
  private final HoldingUpstream upstream = new HoldingUpstream();
  private final MockWebServer server = new MockWebServer();
  private Process child;
  private RunningRelay relay;

  /** Answers {@link #ANSWER}; holds requests whose body says "slow" until released. */
  static final class HoldingUpstream extends Dispatcher {
    final List<String> bodies = new CopyOnWriteArrayList<>();
    final AtomicInteger held = new AtomicInteger();
    final CountDownLatch release = new CountDownLatch(1);

    @Override
    public MockResponse dispatch(RecordedRequest request) throws InterruptedException {
      String body = request.getBody() == null ? "" : request.getBody().utf8();
      bodies.add(body);
      if (body.contains("slow")) {
        held.incrementAndGet();
        release.await(30, TimeUnit.SECONDS);
        held.decrementAndGet();
      }
      return new MockResponse.Builder().code(200).setHeader("Content-Type", "application/json").body(ANSWER).build();
    }

    long callsWith(String text) {
      return bodies.stream().filter(b -> b.contains(text)).count();
    }
  }

  @BeforeEach
  void startUpstream() throws IOException {
    server.setDispatcher(upstream);
    server.start(InetAddress.getByName("127.0.0.1"), 0);
  }

  @AfterEach
  void stop() {
    if (child != null) {
      child.destroyForcibly();
    }
    if (relay != null) {
      relay.close();
    }
    upstream.release.countDown();
    server.close();
    threads.shutdownNow();
    http.dispatcher().executorService().shutdown();
    http.connectionPool().evictAll();
  }

  private Map<String, String> env(String... pairs) {
    Map<String, String> env = new HashMap<>();
    env.put("RELAY_PORT", "0");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("UPSTREAM_BASE_URL", "http://127.0.0.1:" + server.getPort() + "/v1");
    env.put("UPSTREAM_API_KEY", "sk-launcher-upstream");
    env.put("ATTEMPT_TIMEOUT_SECONDS", "30");
    env.put("JOB_POLL_MILLIS", "50");
    for (int i = 0; i < pairs.length; i += 2) {
      env.put(pairs[i], pairs[i + 1]);
    }
    return env;
  }

  /** Starts {@link HaltableRelay} in a child JVM working in {@link #dir}; returns its port. */
  private int startChild(Map<String, String> settings) throws Exception {
    ProcessBuilder launcher = new ProcessBuilder(
        ProcessHandle.current().info().command().orElseThrow(),
        "-cp", System.getProperty("java.class.path"),
        HaltableRelay.class.getName());
    launcher.directory(dir.toFile()); // the default store lands in dir/llmrelay-data
    launcher.environment().keySet().removeIf(name -> !name.equals("PATH"));
    launcher.environment().putAll(settings);
    launcher.redirectErrorStream(true);
    child = launcher.start();
    List<String> output = new CopyOnWriteArrayList<>();
    CompletableFuture<Integer> port = new CompletableFuture<>();
    Process p = child;
    threads.execute(() -> {
      try (BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line = lines.readLine(); line != null; line = lines.readLine()) {
          output.add(line);
          Matcher m = LISTENING.matcher(line);
          if (m.matches()) {
            port.complete(Integer.parseInt(m.group(1)));
          }
        }
        port.completeExceptionally(new IllegalStateException("the child exited:\n" + String.join("\n", output)));
      } catch (IOException e) {
        port.completeExceptionally(e);
      }
    });
    return port.get(60, TimeUnit.SECONDS);
  }

  private void haltChild() throws Exception {
    child.getOutputStream().write("halt\n".getBytes(StandardCharsets.UTF_8));
    child.getOutputStream().flush();
    assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(child.exitValue()).as("halted").isEqualTo(137);
  }

  private JsonNode call(Request request, int expectedStatus) {
    try (Response r = http.newCall(request).execute()) {
      String body = r.body().string();
      assertThat(r.code()).as(body).isEqualTo(expectedStatus);
      return JSON.readTree(body);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Request submit(String base, String content) {
    return new Request.Builder().url(base + "/v1/chat/completions")
        .header("Prefer", "respond-async")
        .post(RequestBody.create("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}",
            MediaType.get("application/json")))
        .build();
  }

  private JsonNode job(String id) {
    return call(new Request.Builder().url(relay.url() + "/v1/relay/jobs/" + id).build(), 200);
  }

  /** The next instance: in this JVM, on the child's store, with a short lease. */
  private void startNextInstance(Path store) throws Exception {
    relay = RelayMain.start(env("JOB_STORE_URL", "jdbc:sqlite:" + store, "JOB_LEASE_SECONDS", "1"), dir.resolve("none.env"), false);
    leaks.track(relay.client());
  }

  @Test
  void t3_aJobAcknowledgedByAProcessThatDiesAtOnceIsCompletedByTheNextInstance() throws Exception {
    // Given the launcher in a child JVM with its default store (./llmrelay-data/jobs.db)
    int port = startChild(env("JOB_LEASE_SECONDS", "2"));
    Path store = dir.resolve("llmrelay-data/jobs.db");
    assertThat(store).as("the default store").exists();

    // When it acknowledges a job and is halted right after
    String id = call(submit("http://127.0.0.1:" + port, "slow durable"), 202).path("id").asText();
    haltChild();

    // Then a new instance on the same store finds the job and completes it
    upstream.release.countDown();
    startNextInstance(store);
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
        .until(() -> job(id).path("status").asText().equals("completed"));
    JsonNode done = job(id);
    assertThat(done.path("attempts").asInt()).as("claimed by the dead process or not").isBetween(1, 2);
    try (Response result = http.newCall(new Request.Builder().url(relay.url() + "/v1/relay/jobs/" + id + "/result").build()).execute()) {
      assertThat(result.code()).isEqualTo(200);
      assertThat(result.body().string()).isEqualTo(ANSWER);
    }
  }

  @Test
  void t4_jobsRunningInAKilledProcessAreCompletedOnceEachByTheNextInstance() throws Exception {
    // Given five jobs running in a child JVM (the upstream holds them)
    Path store = dir.resolve("shared/jobs.db");
    int port = startChild(env("JOB_STORE_URL", "jdbc:sqlite:" + store, "JOB_LEASE_SECONDS", "3", "JOB_MAX_CONCURRENT", "5"));
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ids.add(call(submit("http://127.0.0.1:" + port, "slow job " + i), 202).path("id").asText());
    }
    await().atMost(Duration.ofSeconds(30)).until(() -> upstream.held.get() == 5);

    // When the process is killed (SIGKILL) while they run
    child.destroyForcibly();
    assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    upstream.release.countDown(); // the held answers go to a dead process

    // Then a new instance with a short lease completes all five, each once more and with one result
    startNextInstance(store);
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
        .until(() -> ids.stream().allMatch(id -> job(id).path("status").asText().equals("completed")));
    for (int i = 0; i < 5; i++) {
      JsonNode job = job(ids.get(i));
      assertThat(job.path("attempts").asInt()).as("claimed by the dead process, then by the new one").isEqualTo(2);
      assertThat(job.path("response").path("status_code").asInt()).isEqualTo(200);
      assertThat(upstream.callsWith("slow job " + i)).as("one call per claim").isEqualTo(2);
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + store);
        Statement s = c.createStatement();
        ResultSet r = s.executeQuery("SELECT COUNT(*), SUM(CASE WHEN status = 'completed' AND response_status = 200"
            + " AND lease_owner IS NULL THEN 1 ELSE 0 END) FROM llmrelay_jobs")) {
      r.next();
      assertThat(r.getInt(1)).as("rows").isEqualTo(5);
      assertThat(r.getInt(2)).as("each completed once, its lease given up").isEqualTo(5);
    }
    // (14) the leak check after this test proves every permit of the new instance is back
  }

  @Test
  void theLauncherExportsJobMetersAndClosesJobsBeforeItsClient() throws Exception {
    relay = RelayMain.start(env("JOB_STORE_URL", "jdbc:sqlite:" + dir.resolve("jobs.db")), dir.resolve("none.env"), false);
    leaks.track(relay.client());
    String id = call(submit(relay.url(), "metered"), 202).path("id").asText();
    await().atMost(Duration.ofSeconds(20)).until(() -> job(id).path("status").asText().equals("completed"));
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
      String metrics;
      try (Response r = http.newCall(new Request.Builder().url(relay.url() + "/metrics").build()).execute()) {
        metrics = r.body().string();
      }
      assertThat(metrics)
          .contains("llmrelay_jobs{status=\"completed\"} 1.0")
          .contains("llmrelay_job_claims_total 1.0")
          .contains("llmrelay_job_store_up 1.0")
          .contains("llmrelay_jobs_running 0.0")
          .contains("llmrelay_job_leases_reclaimed_total 0.0")
          .contains("llmrelay_job_leases_lost_total 0.0");
    });
    var jobs = relay.jobs().orElseThrow();
    relay.close();
    assertThatThrownBy(() -> jobs.submit(new dev.llmrelay.core.jobs.JobSubmission("anonymous",
            dev.llmrelay.core.Endpoint.CHAT_COMPLETIONS, Map.of(), "{}".getBytes(StandardCharsets.UTF_8), null, null, null)))
        .hasMessageContaining("closed");
  }

  @Test
  void aGracefulStopLetsARunningJobFinishInsteadOfPayingForItTwice() throws Exception {
    relay = RelayMain.start(env("JOB_STORE_URL", "jdbc:sqlite:" + dir.resolve("jobs.db"), "SHUTDOWN_TIMEOUT_SECONDS", "20"),
        dir.resolve("none.env"), false);
    leaks.track(relay.client());
    String id = call(submit(relay.url(), "slow"), 202).path("id").asText();
    await().atMost(Duration.ofSeconds(20)).until(() -> upstream.held.get() == 1);
    var jobs = relay.jobs().orElseThrow();

    RunningRelay stopping = relay;
    relay = null;
    CompletableFuture<Void> stopped = CompletableFuture.runAsync(stopping::close, threads);
    await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> !stopped.isDone());
    upstream.release.countDown(); // the job ends within the shutdown timeout
    stopped.get(20, TimeUnit.SECONDS);

    dev.llmrelay.core.jobs.Job job = jobs.get("anonymous", id, false).orElseThrow(); // reads work on a closed service
    assertThat(job.status()).isEqualTo(dev.llmrelay.core.jobs.JobStatus.COMPLETED);
    assertThat(job.attempts()).isEqualTo(1);
    assertThat(upstream.callsWith("slow")).isEqualTo(1);
  }

  @Test
  void jobsEnabledFalseLeavesTheLauncherWithoutJobsOrAStore() throws Exception {
    relay = RelayMain.start(env("JOBS_ENABLED", "false", "JOB_STORE_URL", "jdbc:sqlite:" + dir.resolve("off/jobs.db")),
        dir.resolve("none.env"), false);
    leaks.track(relay.client());
    assertThat(relay.jobs()).isEmpty();
    assertThat(dir.resolve("off")).doesNotExist();
    call(new Request.Builder().url(relay.url() + "/v1/relay/jobs").build(), 404);
  }

  @Test
  void aStoreThatCannotBeUsedStopsTheStartNamingItWithExitCode2() throws Exception {
    assertThatThrownBy(() -> RelayMain.start(
            env("JOB_STORE_URL", "jdbc:postgresql://127.0.0.1:1/jobs", "JOB_STORE_PASSWORD", "pg-secret-1"),
            dir.resolve("none.env"), false))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("the job store jdbc:postgresql://127.0.0.1:1/jobs")
        .hasMessageContaining("JOBS_ENABLED=false")
        .hasMessageNotContaining("pg-secret-1");

    // The real main: a clear line and a non-zero exit
    ProcessBuilder launcher = new ProcessBuilder(
        ProcessHandle.current().info().command().orElseThrow(),
        "-cp", System.getProperty("java.class.path"),
        RelayMain.class.getName());
    launcher.directory(dir.toFile());
    launcher.environment().keySet().removeIf(name -> !name.equals("PATH"));
    launcher.environment().putAll(env("JOB_STORE_URL", "jdbc:sqlite:" + dir.resolve("no-such-dir-file").resolve("x/jobs.db")));
    Files.writeString(dir.resolve("no-such-dir-file"), "a file where a directory should be");
    launcher.redirectErrorStream(true);
    child = launcher.start();
    String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(child.exitValue()).as(output).isEqualTo(2);
    assertThat(output).contains("llmrelay did not start: the job store jdbc:sqlite:");
  }
}
