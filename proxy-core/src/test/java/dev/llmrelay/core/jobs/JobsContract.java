package dev.llmrelay.core.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.TestConfigs;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.LeakCheck;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;
import okhttp3.Headers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The job service's behaviour, the same for every store: each subclass names a fresh, empty store.
 * The upstream is a MockWebServer; every test ends with every permit back (the leak check).
 */
abstract class JobsContract {
  static final String OWNER = "owner-a";
  static final String ANSWER = "{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hello\"}}]}";

  @RegisterExtension final LeakCheck leaks = new LeakCheck();

  final MockWebServer upstream = new MockWebServer();
  final AtomicInteger upstreamCalls = new AtomicInteger();
  final Map<String, AtomicInteger> callsByBody = new ConcurrentHashMap<>();
  volatile Duration upstreamDelay = Duration.ZERO;
  volatile CountDownLatch upstreamGate = null;
  final List<RelayJobs> services = new ArrayList<>();
  final ExecutorService callers = Executors.newFixedThreadPool(12);

  /** A store configuration for a fresh, empty store; called once per test. */
  abstract JobsConfig.Builder store();

  @BeforeEach
  void startUpstream() throws Exception {
    upstream.setDispatcher(
        new Dispatcher() {
          @Override
          public MockResponse dispatch(RecordedRequest request) throws InterruptedException {
            upstreamCalls.incrementAndGet();
            String body = request.getBody() == null ? "" : request.getBody().utf8();
            callsByBody.computeIfAbsent(body, b -> new AtomicInteger()).incrementAndGet();
            CountDownLatch gate = upstreamGate;
            if (gate != null) {
              gate.await(20, TimeUnit.SECONDS);
            }
            long delay = upstreamDelay.toMillis();
            if (delay > 0) {
              Thread.sleep(delay); // the upstream's own latency, on MockWebServer's thread
            }
            return new MockResponse.Builder()
                .code(200)
                .headers(Headers.of("Content-Type", "application/json"))
                .body(ANSWER)
                .build();
          }
        });
    upstream.start();
  }

  @AfterEach
  void stop() throws Exception {
    CountDownLatch gate = upstreamGate;
    if (gate != null) {
      gate.countDown();
    }
    for (RelayJobs s : services) {
      s.close();
    }
    callers.shutdownNow();
    upstream.close();
  }

  UpstreamClient client(int permits) {
    RelayConfig config =
        TestConfigs.fast(upstream).maxConcurrentRequests(permits).attemptTimeout(Duration.ofSeconds(20))
            .retryTimeout(Duration.ofSeconds(20)).streamIdleTimeout(Duration.ofSeconds(20))
            .upstreamApiKey("sk-upstream").build();
    return leaks.client(config);
  }

  RelayJobs jobs(UpstreamClient client, JobsConfig config) {
    RelayJobs jobs = RelayJobs.start(client, config);
    services.add(jobs);
    return jobs;
  }

  JobsConfig.Builder fast() {
    return store().pollInterval(Duration.ofMillis(50)).lease(Duration.ofSeconds(2)).maxConcurrent(2);
  }

  static JobSubmission chat(String owner, String content, String key) {
    String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}";
    return new JobSubmission(
        owner,
        Endpoint.CHAT_COMPLETIONS,
        Map.of("Authorization", List.of("Bearer sk-client-secret-123"), "X-Title", List.of("my app"),
            "Cookie", List.of("session=cookie-secret-456")),
        body.getBytes(StandardCharsets.UTF_8),
        "m",
        "{\"batch\":\"7\"}",
        key);
  }

  Job awaitStatus(RelayJobs jobs, String owner, String id, JobStatus status) {
    return await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(20))
        .until(() -> jobs.get(owner, id, true).orElseThrow(), j -> j.status() == status);
  }

  @Test
  void aSubmittedJobRunsOnceAndKeepsTheUpstreamAnswerByteForByte() {
    UpstreamClient client = client(4);
    RelayJobs jobs = jobs(client, fast().build());

    Submitted s = jobs.submit(chat(OWNER, "hi", null));

    assertThat(s.replayed()).isFalse();
    assertThat(s.job().id()).matches("job_[0-9a-f]{32}");
    assertThat(s.job().metadata()).isEqualTo("{\"batch\":\"7\"}");
    Job done = awaitStatus(jobs, OWNER, s.job().id(), JobStatus.COMPLETED);
    assertThat(done.response().statusCode()).isEqualTo(200);
    assertThat(done.response().contentType()).startsWith("application/json");
    assertThat(new String(done.response().body(), StandardCharsets.UTF_8)).isEqualTo(ANSWER);
    assertThat(done.attempts()).isEqualTo(1);
    assertThat(done.startedAt()).isNotNull();
    assertThat(done.completedAt()).isAfterOrEqualTo(done.startedAt());
    assertThat(upstreamCalls.get()).isEqualTo(1);
  }

  @Test
  void theJobCallsTheUpstreamWithTheRelayKeyAndOnlyAllowlistedClientHeaders() throws Exception {
    UpstreamClient client = client(4);
    RelayJobs jobs = jobs(client, fast().build());

    Submitted s = jobs.submit(chat(OWNER, "hi", null));
    awaitStatus(jobs, OWNER, s.job().id(), JobStatus.COMPLETED);

    RecordedRequest r = upstream.takeRequest(5, TimeUnit.SECONDS);
    assertThat(r.getHeaders().get("Authorization")).isEqualTo("Bearer sk-upstream");
    assertThat(r.getHeaders().get("X-Title")).isEqualTo("my app");
    assertThat(r.getHeaders().get("Cookie")).isNull();
  }

  @Test
  void anotherOwnerSeesNothing() {
    UpstreamClient client = client(4);
    RelayJobs jobs = jobs(client, fast().build());
    Submitted s = jobs.submit(chat(OWNER, "hi", null));

    assertThat(jobs.get("owner-b", s.job().id(), true)).isEmpty();
    assertThat(jobs.cancel("owner-b", s.job().id())).isEmpty();
    assertThat(jobs.delete("owner-b", s.job().id())).isFalse();
    assertThat(jobs.list("owner-b", 10, null, null).jobs()).isEmpty();
    assertThat(jobs.get(OWNER, s.job().id(), false)).isPresent();
  }

  @Test
  void tenConcurrentDuplicatesMakeOneJobAndOneUpstreamCall() throws Exception {
    UpstreamClient client = client(4);
    RelayJobs jobs = jobs(client, fast().build());
    List<Future<Submitted>> futures = new ArrayList<>();
    CountDownLatch go = new CountDownLatch(1);
    for (int i = 0; i < 10; i++) {
      futures.add(callers.submit(() -> {
        go.await();
        return jobs.submit(chat(OWNER, "same", "key-1"));
      }));
    }
    go.countDown();
    Set<String> ids = new java.util.HashSet<>();
    int replayed = 0;
    for (Future<Submitted> f : futures) {
      Submitted s = f.get(20, TimeUnit.SECONDS);
      ids.add(s.job().id());
      replayed += s.replayed() ? 1 : 0;
    }
    assertThat(ids).hasSize(1);
    assertThat(replayed).isEqualTo(9);
    awaitStatus(jobs, OWNER, ids.iterator().next(), JobStatus.COMPLETED);
    assertThat(upstreamCalls.get()).isEqualTo(1);

    assertThatThrownBy(() -> jobs.submit(chat(OWNER, "other", "key-1")))
        .isInstanceOf(IdempotencyKeyReusedException.class);
    // The same key is another owner's own key.
    assertThat(jobs.submit(chat("owner-b", "other", "key-1")).replayed()).isFalse();
  }

  @Test
  void aQueuedJobCancelledNeverReachesTheUpstream() {
    UpstreamClient client = client(1);
    upstreamGate = new CountDownLatch(1);
    RelayJobs jobs = jobs(client, fast().maxConcurrent(1).build());
    Submitted first = jobs.submit(chat(OWNER, "first", null));
    await().until(() -> upstreamCalls.get() == 1); // the only slot is busy
    Submitted second = jobs.submit(chat(OWNER, "second", null));

    Job cancelled = jobs.cancel(OWNER, second.job().id()).orElseThrow();
    assertThat(cancelled.status()).isEqualTo(JobStatus.CANCELLED);
    assertThat(cancelled.cancelRequestedAt()).isNotNull();
    assertThat(cancelled.error().code()).isEqualTo("job_cancelled");
    assertThat(jobs.cancel(OWNER, second.job().id()).orElseThrow().status()).isEqualTo(JobStatus.CANCELLED);

    upstreamGate.countDown();
    awaitStatus(jobs, OWNER, first.job().id(), JobStatus.COMPLETED);
    assertThat(callsByBody.keySet()).noneMatch(b -> b.contains("second"));
    assertThat(upstreamCalls.get()).isEqualTo(1);
  }

  @Test
  void aRunningJobCancelledHasItsUpstreamCallAborted() throws Exception {
    UpstreamClient client = client(2);
    upstreamGate = new CountDownLatch(1);
    RelayJobs jobs = jobs(client, fast().build());
    Submitted s = jobs.submit(chat(OWNER, "slow", null));
    awaitStatus(jobs, OWNER, s.job().id(), JobStatus.IN_PROGRESS);
    await().until(() -> upstreamCalls.get() == 1);

    Job j = jobs.cancel(OWNER, s.job().id()).orElseThrow();
    assertThat(j.status()).isIn(JobStatus.CANCELLING, JobStatus.CANCELLED);

    Job cancelled = awaitStatus(jobs, OWNER, s.job().id(), JobStatus.CANCELLED);
    assertThat(cancelled.response()).isNull();
    assertThat(cancelled.error().code()).isEqualTo("job_cancelled");
    // The permit is back long before the upstream would have answered.
    await().atMost(Duration.ofSeconds(5)).until(() -> client.stats().inFlight() == 0);
    assertThat(jobs.cancel(OWNER, s.job().id()).orElseThrow().status()).isEqualTo(JobStatus.CANCELLED);
  }

  @Test
  void aFinishedJobIsLeftAsItIsByCancel() {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().build());
    Submitted s = jobs.submit(chat(OWNER, "hi", null));
    awaitStatus(jobs, OWNER, s.job().id(), JobStatus.COMPLETED);

    assertThat(jobs.cancel(OWNER, s.job().id()).orElseThrow().status()).isEqualTo(JobStatus.COMPLETED);
  }

  @Test
  void resultsExpireAfterTheirTtlAndUnstartedJobsAfterTheQueueLimit() {
    UpstreamClient client = client(1);
    RelayJobs jobs = jobs(client, fast().maxConcurrent(1).resultTtl(Duration.ofSeconds(1)).maxQueue(Duration.ofSeconds(1)).build());
    Submitted done = jobs.submit(chat(OWNER, "hi", null));
    awaitStatus(jobs, OWNER, done.job().id(), JobStatus.COMPLETED);

    Job expired = awaitStatus(jobs, OWNER, done.job().id(), JobStatus.EXPIRED);
    assertThat(expired.response().body()).isNull();
    assertThat(expired.error().code()).isEqualTo("job_expired");

    // Every permit taken by an interactive request: the next job cannot start and expires.
    upstreamGate = new CountDownLatch(1);
    ExchangeResult[] holder = new ExchangeResult[1];
    Future<?> interactive = callers.submit(() -> {
      holder[0] = client.newExchange(TestConfigs.chat("interactive"), new dev.llmrelay.core.RecordingSink()).execute();
    });
    await().until(() -> upstreamCalls.get() == 2);
    Submitted never = jobs.submit(chat(OWNER, "never", null));
    Job neverStarted = awaitStatus(jobs, OWNER, never.job().id(), JobStatus.EXPIRED);
    assertThat(neverStarted.startedAt()).isNull();
    assertThat(neverStarted.error().code()).isEqualTo("job_expired");
    upstreamGate.countDown();
    await().until(interactive::isDone);
    assertThat(callsByBody.keySet()).noneMatch(b -> b.contains("never"));
  }

  @Test
  void listingPagesNewestFirstPerOwnerAndFiltersByStatus() {
    UpstreamClient client = client(1);
    upstreamGate = new CountDownLatch(1);
    RelayJobs jobs = jobs(client, fast().maxConcurrent(1).build());
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ids.add(jobs.submit(chat(OWNER, "n" + i, null)).job().id());
    }
    jobs.submit(chat("owner-b", "b", null));

    JobPage first = jobs.list(OWNER, 2, null, null);
    assertThat(first.jobs()).extracting(Job::id).containsExactly(ids.get(4), ids.get(3));
    assertThat(first.hasMore()).isTrue();
    assertThat(first.jobs().get(0).response()).isNull();
    JobPage second = jobs.list(OWNER, 2, ids.get(3), null);
    assertThat(second.jobs()).extracting(Job::id).containsExactly(ids.get(2), ids.get(1));
    JobPage last = jobs.list(OWNER, 2, ids.get(1), null);
    assertThat(last.jobs()).extracting(Job::id).containsExactly(ids.get(0));
    assertThat(last.hasMore()).isFalse();

    await().until(() -> upstreamCalls.get() == 1);
    assertThat(jobs.list(OWNER, 10, null, JobStatus.IN_PROGRESS).jobs()).extracting(Job::id).containsExactly(ids.get(0));
    assertThat(jobs.list(OWNER, 10, null, JobStatus.QUEUED).jobs()).hasSize(4);
    upstreamGate.countDown();
  }

  @Test
  void deleteRemovesTheJob() {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().build());
    Submitted s = jobs.submit(chat(OWNER, "hi", null));
    awaitStatus(jobs, OWNER, s.job().id(), JobStatus.COMPLETED);

    assertThat(jobs.delete(OWNER, s.job().id())).isTrue();
    assertThat(jobs.get(OWNER, s.job().id(), true)).isEmpty();
    assertThat(jobs.delete(OWNER, s.job().id())).isFalse();
  }

  @Test
  void runNowAnswersWithinTheWaitOrLeavesTheJobQueued() throws Exception {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().pollInterval(Duration.ofSeconds(30)).build());
    Submitted s = jobs.submit(chat(OWNER, "quick", null));
    Job done = jobs.runNow(OWNER, s.job().id(), Duration.ofSeconds(10)).orElseThrow();
    assertThat(done.status()).isEqualTo(JobStatus.COMPLETED);
    assertThat(new String(done.response().body(), StandardCharsets.UTF_8)).isEqualTo(ANSWER);

    upstreamDelay = Duration.ofMillis(1500);
    Submitted slow = jobs.submit(chat(OWNER, "slow", null));
    long t0 = System.nanoTime();
    assertThat(jobs.runNow(OWNER, slow.job().id(), Duration.ofMillis(300))).isEmpty();
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
    awaitStatus(jobs, OWNER, slow.job().id(), JobStatus.COMPLETED);
  }

  @Test
  void anInteractiveRequestIsNotDelayedBehindQueuedSlowJobs() {
    UpstreamClient client = client(2);
    upstreamGate = new CountDownLatch(1);
    RelayJobs jobs = jobs(client, fast().maxConcurrent(1).build());
    for (int i = 0; i < 10; i++) {
      jobs.submit(chat(OWNER, "slow" + i, null));
    }
    await().until(() -> upstreamCalls.get() == 1);
    upstreamGate.countDown();
    upstreamGate = null;
    upstreamDelay = Duration.ofMillis(300);

    long t0 = System.nanoTime();
    ExchangeResult r = client.newExchange(TestConfigs.chat("interactive"), new dev.llmrelay.core.RecordingSink()).execute();
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(r.status()).isEqualTo(200);
    // One job at a time runs (300 ms each); ten of them would take 3 s.
    assertThat(took).isLessThan(Duration.ofMillis(1500));
    await().atMost(Duration.ofSeconds(20)).until(() -> jobs.list(OWNER, 20, null, JobStatus.COMPLETED).jobs().size() == 10);
  }

  @Test
  void closingGivesRunningJobsBackAndAnotherInstanceFinishesThem() {
    UpstreamClient a = client(2);
    upstreamGate = new CountDownLatch(1);
    RelayJobs first = jobs(a, fast().instanceId("a").build());
    Submitted s = first.submit(chat(OWNER, "hi", null));
    awaitStatus(first, OWNER, s.job().id(), JobStatus.IN_PROGRESS);

    first.close();
    Job back = first.get(OWNER, s.job().id(), false).orElseThrow(); // reads still work on a closed service
    assertThat(back.status()).isEqualTo(JobStatus.QUEUED);
    assertThat(back.attempts()).isEqualTo(0);
    upstreamGate.countDown();
    upstreamGate = null;

    UpstreamClient b = client(2);
    RelayJobs second = jobs(b, fast().instanceId("b").build());
    Job done = awaitStatus(second, OWNER, s.job().id(), JobStatus.COMPLETED);
    assertThat(done.attempts()).isEqualTo(1);
  }

  @Test
  void aGracefulShutdownLetsTheRunningJobFinishAndStartsNoOther() throws Exception {
    UpstreamClient client = client(2);
    upstreamGate = new CountDownLatch(1);
    RelayJobs jobs = jobs(client, fast().maxConcurrent(1).build());
    Submitted running = jobs.submit(chat(OWNER, "running", null));
    await().until(() -> upstreamCalls.get() == 1);
    Submitted queued = jobs.submit(chat(OWNER, "queued", null));

    Future<?> stopping = callers.submit(() -> jobs.shutdown(Duration.ofSeconds(10)));
    Thread.sleep(300); // the shutdown is waiting for the running job; nothing new may start meanwhile
    assertThat(stopping.isDone()).isFalse();
    upstreamGate.countDown();
    stopping.get(10, TimeUnit.SECONDS);

    assertThat(jobs.get(OWNER, running.job().id(), true).orElseThrow().status()).isEqualTo(JobStatus.COMPLETED);
    assertThat(jobs.get(OWNER, queued.job().id(), false).orElseThrow().status()).isEqualTo(JobStatus.QUEUED);
    assertThat(upstreamCalls.get()).isEqualTo(1);
  }

  @Test
  void aFullQueueRefusesNewJobsEvenWithAFreshIdempotencyKeyButStillReplaysAnOldOne() {
    UpstreamClient client = client(1);
    upstreamGate = new CountDownLatch(1);
    RelayJobs jobs = jobs(client, fast().maxConcurrent(1).maxQueued(1).build());
    jobs.submit(chat(OWNER, "running", null));
    await().until(() -> upstreamCalls.get() == 1); // the only slot is busy: the next one stays queued
    Submitted queued = jobs.submit(chat(OWNER, "queued", "key-q"));

    assertThatThrownBy(() -> jobs.submit(chat(OWNER, "plain", null))).isInstanceOf(JobQueueFullException.class);
    assertThatThrownBy(() -> jobs.submit(chat(OWNER, "keyed", "fresh-key"))).isInstanceOf(JobQueueFullException.class);
    Submitted again = jobs.submit(chat(OWNER, "queued", "key-q"));
    assertThat(again.replayed()).isTrue();
    assertThat(again.job().id()).isEqualTo(queued.job().id());
    assertThatThrownBy(() -> jobs.submit(chat(OWNER, "other", "key-q"))).isInstanceOf(IdempotencyKeyReusedException.class);
    upstreamGate.countDown();
  }

  @Test
  void aJobRefusedByTheGlobalCapGoesBackToTheQueueAndRunsOnceThereIsRoom() throws Exception {
    dev.llmrelay.core.shared.SharedState state = dev.llmrelay.core.shared.SharedStates.create(
        dev.llmrelay.core.shared.SharedStateConfig.builder().build()); // in the JVM: another instance's permit below
    assertThat(state.tryAcquire("other-instance:1", 1, Duration.ofMinutes(5)).toCompletableFuture().join()).isTrue();
    RelayConfig config = TestConfigs.fast(upstream).maxConcurrentRequests(2).maxWait(Duration.ofSeconds(1))
        .upstreamApiKey("sk-upstream").build();
    dev.llmrelay.core.shared.SharedStateConfig shared = dev.llmrelay.core.shared.SharedStateConfig.builder()
        .url("redis://127.0.0.1:1").maxConcurrentRequests(1).build(); // the URL only turns sharing on
    UpstreamClient client = leaks.track(UpstreamClient.builder(config).sharedState(shared, state).build());
    RelayJobs jobs = jobs(client, fast().build());

    Submitted s = jobs.submit(chat(OWNER, "under the cap", null));
    // Refused without waiting (a job never holds a permit and a slot while it waits): still queued,
    // no attempt counted, the upstream not called, and the local permits free.
    await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5))
        .until(() -> !jobs.get(OWNER, s.job().id(), false).orElseThrow().status().terminal() && upstreamCalls.get() == 0);
    Job back = await().atMost(Duration.ofSeconds(5))
        .until(() -> jobs.get(OWNER, s.job().id(), false).orElseThrow(), j -> j.status() == JobStatus.QUEUED);
    assertThat(back.attempts()).isZero();
    assertThat(client.stats().permitsAvailable()).isEqualTo(2);

    state.release("other-instance:1"); // the other instance's request ended
    Job done = awaitStatus(jobs, OWNER, s.job().id(), JobStatus.COMPLETED);
    assertThat(done.attempts()).isEqualTo(1);
    assertThat(upstreamCalls.get()).isEqualTo(1);
  }

  @Test
  void concurrentSubmissionsNeverOvershootTheQueueLimit() throws Exception {
    UpstreamClient client = client(1);
    upstreamGate = new CountDownLatch(1);
    RelayJobs jobs = jobs(client, fast().maxConcurrent(1).maxQueued(5).build());
    jobs.submit(chat(OWNER, "running", null));
    await().until(() -> upstreamCalls.get() == 1); // the only slot is busy: the rest stay queued

    CountDownLatch go = new CountDownLatch(1);
    List<Future<Boolean>> all = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      String content = "queued-" + i;
      all.add(callers.submit(() -> {
        go.await();
        try {
          jobs.submit(chat(OWNER, content, null));
          return true;
        } catch (JobQueueFullException full) {
          return false;
        }
      }));
    }
    go.countDown();
    int accepted = 0;
    for (Future<Boolean> f : all) {
      accepted += f.get(20, TimeUnit.SECONDS) ? 1 : 0;
    }
    assertThat(accepted).isEqualTo(5);
    assertThat(jobs.list(OWNER, 100, null, JobStatus.QUEUED).jobs()).hasSize(5);
    upstreamGate.countDown();
  }

  static String text(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  static ClientRequest unused() {
    return null;
  }
}
