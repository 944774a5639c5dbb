package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Durable jobs through a real Jetty and real sockets, on a SQLite store (issue 13, tests 1, 2, 6 to
 * 11 and 14, plus the submission checks). Each test names its issue number.
 */
class JobsThroughServletTest extends JobsTestBase {

  @Test
  void anExplicitFormInUtf16IsRefusedWith400NotLeftHanging() throws Exception {
    start();
    String form = "{\"endpoint\":\"/v1/chat/completions\",\"body\":" + chat("utf16") + "}";
    byte[] utf16 = form.getBytes(java.nio.charset.StandardCharsets.UTF_16LE);
    Answer refused = call(request("/v1/relay/jobs")
        .post(okhttp3.RequestBody.create(utf16, okhttp3.MediaType.get("application/json"))).build());
    assertThat(refused.status()).as(refused.toString()).isEqualTo(400);
    assertThat(refused.errorCode()).isEqualTo("invalid_json");
    assertThat(refused.header("X-Request-Id")).isNotBlank();
    assertThat(rows()).isZero();
  }

  @Test
  void t1_submitAnswers202ThenPollingShowsCompletedAndTheResultIsTheSynchronousAnswerByteForByte() throws Exception {
    start();
    // Given the synchronous answer to a chat request
    Answer sync = post("/v1/chat/completions", CHAT);
    assertThat(sync.status()).isEqualTo(200);

    // When the same request is handed off
    Answer accepted = submit(CHAT, "X-Request-Id: job-submit-1");

    // Then 202 with the job object, where to find it and when to come back
    JsonNode job = accepted.json();
    String id = job.path("id").asText();
    assertThat(id).matches("job_[0-9a-f]{32}");
    assertThat(accepted.header("Location")).isEqualTo("/v1/relay/jobs/" + id);
    assertThat(accepted.header("Preference-Applied")).isEqualTo("respond-async");
    assertThat(accepted.header("Retry-After")).isEqualTo("2");
    assertThat(accepted.header("X-Request-Id")).isEqualTo("job-submit-1");
    assertThat(accepted.header("Content-Type")).startsWith("application/json");
    assertThat(job.path("object").asText()).isEqualTo("relay.job");
    assertThat(job.path("status").asText()).isIn("queued", "in_progress", "completed");
    assertThat(job.path("endpoint").asText()).isEqualTo("/v1/chat/completions");
    assertThat(job.path("model").asText()).isEqualTo("test-model");
    assertThat(job.path("created_at").isIntegralNumber()).as("Unix seconds").isTrue();
    assertThat(job.path("created_at").asLong()).isCloseTo(System.currentTimeMillis() / 1000, org.assertj.core.data.Offset.offset(60L));
    assertThat(job.has("metadata")).isTrue();
    assertThat(job.path("metadata").isNull()).isTrue();
    assertThat(job.path("cancel_requested_at").isNull()).isTrue();
    assertThat(job.path("error").isNull()).isTrue();

    // And polling shows it completed, with the upstream's answer as JSON inside
    JsonNode done = awaitStatus(id, "completed");
    assertThat(done.path("attempts").asInt()).isEqualTo(1);
    assertThat(done.path("started_at").isIntegralNumber()).isTrue();
    assertThat(done.path("completed_at").isIntegralNumber()).isTrue();
    assertThat(done.path("expires_at").asLong()).isGreaterThan(done.path("completed_at").asLong());
    assertThat(done.path("response").path("status_code").asInt()).isEqualTo(200);
    assertThat(done.path("response").path("body")).isEqualTo(JSON.readTree(Upstreams.CHAT_JSON));

    // And the result replays the synchronous answer: status, content type and the same bytes
    Answer result = get(accepted.header("Location") + "/result");
    assertThat(result.status()).isEqualTo(sync.status());
    assertThat(result.header("Content-Type")).isEqualTo(sync.header("Content-Type"));
    assertThat(result.bytes()).as("byte for byte").isEqualTo(sync.bytes());
    assertThat(result.header("X-Relay-Job-Id")).isEqualTo(id);
    assertThat(upstream.calls.get()).as("one sync call, one job call").isEqualTo(2);
    assertThat(upstream.authorizations).as("the job was sent with the relay's key").allMatch(a -> a.equals("Bearer " + UPSTREAM_KEY));
  }

  @Test
  void t2_waitReturnsTheOrdinaryAnswerWhenTheJobEndsInTime() throws Exception {
    start(c -> c.maxWait(Duration.ofSeconds(10)), j -> j, List.of());
    Answer sync = post("/v1/chat/completions", CHAT);

    Answer waited = post("/v1/chat/completions", CHAT, "Prefer: respond-async, wait=10");

    assertThat(waited.status()).as(waited.toString()).isEqualTo(200);
    assertThat(waited.bytes()).isEqualTo(sync.bytes());
    assertThat(waited.header("Content-Type")).isEqualTo(sync.header("Content-Type"));
    String id = waited.header("X-Relay-Job-Id");
    assertThat(id).matches("job_[0-9a-f]{32}");
    assertThat(waited.header("Preference-Applied")).as("answered synchronously").isNull();
    assertThat(get("/v1/relay/jobs/" + id).json().path("status").asText()).isEqualTo("completed");
  }

  @Test
  void t2_waitAnswers202WhenTheJobOutlastsIt() throws Exception {
    start(c -> c.maxWait(Duration.ofSeconds(5)), j -> j, List.of()); // wait is capped at MAX_WAIT_SECONDS too
    long begin = System.nanoTime();

    // RFC 7240 spelling: case-insensitive tokens, two headers, a parameter, a quoted value
    Answer waited = post("/v1/chat/completions", chat("slow"), "Prefer: RESPOND-ASYNC; foo=bar", "Prefer: Wait=\"1\"");

    long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin);
    assertThat(waited.status()).as(waited.toString()).isEqualTo(202);
    assertThat(tookMillis).as("waited about 1 s, not for the job").isBetween(900L, 15_000L);
    String id = waited.json().path("id").asText();
    assertThat(waited.header("Location")).endsWith(id);
    assertThat(upstream.held.get()).as("the job runs on").isEqualTo(1);
    upstream.release();
    awaitStatus(id, "completed");
  }

  @Test
  void t6_tenConcurrentDuplicatesWithOneIdempotencyKeyMakeOneJobAndOneUpstreamCall() throws Exception {
    start();
    ExecutorService clients = Executors.newFixedThreadPool(10);
    CountDownLatch go = new CountDownLatch(1);
    List<CompletableFuture<Answer>> answers = new ArrayList<>();
    try {
      for (int i = 0; i < 10; i++) {
        answers.add(CompletableFuture.supplyAsync(() -> {
          try {
            go.await();
          } catch (InterruptedException e) {
            throw new IllegalStateException(e);
          }
          return post("/v1/chat/completions", chat("once"), "Prefer: respond-async", "Idempotency-Key: order-42");
        }, clients));
      }
      go.countDown();
      Set<String> locations = new HashSet<>();
      int replayed = 0;
      for (CompletableFuture<Answer> f : answers) {
        Answer a = f.get(30, TimeUnit.SECONDS);
        assertThat(a.status()).as(a.toString()).isEqualTo(202);
        locations.add(a.header("Location"));
        if ("true".equals(a.header("Idempotent-Replayed"))) {
          replayed++;
        }
      }
      assertThat(locations).as("one job").hasSize(1);
      assertThat(replayed).as("every duplicate but the first says so").isEqualTo(9);
      String location = locations.iterator().next();
      await().atMost(Duration.ofSeconds(20)).until(() -> get(location).json().path("status").asText().equals("completed"));
      assertThat(upstream.callsWith("once")).as("one upstream call").isEqualTo(1);
      assertThat(rows()).isEqualTo(1);

      // The same key with another request is refused, and nothing is stored
      Answer other = post("/v1/chat/completions", chat("something else"), "Prefer: respond-async", "Idempotency-Key: order-42");
      assertThat(other.status()).as(other.toString()).isEqualTo(422);
      assertThat(other.errorCode()).isEqualTo("idempotency_key_reused");
      assertThat(rows()).isEqualTo(1);
      assertThat(client.stats().rejected()).as("the 422 is accounted").isGreaterThanOrEqualTo(1);
    } finally {
      clients.shutdownNow();
    }
  }

  @Test
  void t7_cancelInEveryState() throws Exception {
    // One job slot, so a second job stays queued while the first runs
    start(c -> c, j -> j.maxConcurrent(1).lease(Duration.ofSeconds(3)), List.of());
    String running = submit(chat("slow running")).json().path("id").asText();
    await().atMost(Duration.ofSeconds(10)).until(() -> upstream.held.get() == 1);
    String queued = submit(chat("queued one")).json().path("id").asText();
    assertThat(get("/v1/relay/jobs/" + queued).json().path("status").asText()).isEqualTo("queued");

    // Queued: cancelled at once, never reaches the upstream
    Answer c1 = post("/v1/relay/jobs/" + queued + "/cancel", "");
    assertThat(c1.status()).as(c1.toString()).isEqualTo(200);
    assertThat(c1.json().path("status").asText()).isEqualTo("cancelled");
    assertThat(c1.json().path("cancel_requested_at").isIntegralNumber()).isTrue();

    // Running: its upstream call is aborted (the upstream still holds it), the job ends cancelled
    Answer c2 = post("/v1/relay/jobs/" + running + "/cancel", "");
    assertThat(c2.status()).isEqualTo(200);
    assertThat(c2.json().path("status").asText()).isIn("cancelling", "cancelled");
    awaitStatus(running, "cancelled");
    await("the upstream call was aborted").atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
      assertThat(client.stats().inFlight()).isZero();
      assertThat(client.stats().permitsAvailable()).isEqualTo(client.config().maxConcurrentRequests());
    });
    assertThat(upstream.held.get()).as("the upstream was still holding it").isEqualTo(1);

    // Finished: unchanged
    upstream.release();
    String finished = submit(chat("finished")).json().path("id").asText();
    JsonNode before = awaitStatus(finished, "completed");
    Answer c3 = post("/v1/relay/jobs/" + finished + "/cancel", "");
    assertThat(c3.status()).isEqualTo(200);
    assertThat(c3.json()).isEqualTo(before);

    // Again: the same answer every time
    assertThat(post("/v1/relay/jobs/" + queued + "/cancel", "").json()).isEqualTo(get("/v1/relay/jobs/" + queued).json());
    assertThat(post("/v1/relay/jobs/" + running + "/cancel", "").json().path("status").asText()).isEqualTo("cancelled");
    assertThat(post("/v1/relay/jobs/" + finished + "/cancel", "").json()).isEqualTo(before);

    // And the results say so
    assertThat(get("/v1/relay/jobs/" + queued + "/result").errorCode()).isEqualTo("job_cancelled");
    assertThat(get("/v1/relay/jobs/" + running + "/result").status()).isEqualTo(409);
    assertThat(get("/v1/relay/jobs/" + finished + "/result").status()).isEqualTo(200);
    assertThat(upstream.callsWith("queued one")).as("the queued job never reached the upstream").isZero();
    // (14) the leak check after this test proves every permit is back
  }

  @Test
  void t8_anExpiredResultIs410() throws Exception {
    start(c -> c, j -> j.resultTtl(Duration.ofSeconds(1)), List.of());
    String id = submit(CHAT).json().path("id").asText();
    // It completes, then its result expires after the TTL (and is deleted one TTL later)
    await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
        .until(() -> get("/v1/relay/jobs/" + id + "/result").status() == 410);
    Answer expired = get("/v1/relay/jobs/" + id + "/result");
    if (expired.status() == 410) { // still inside the second TTL
      assertThat(expired.errorCode()).isEqualTo("job_expired");
      assertThat(expired.header("Content-Type")).startsWith("application/json");
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> get("/v1/relay/jobs/" + id).status() == 404);
  }

  @Test
  void t9_listPagesNewestFirstAndEachKeySeesOnlyItsOwnJobs() throws Exception {
    start(c -> c, j -> j, List.of("key-alice", "key-bob"));
    String alice = "Authorization: Bearer key-alice";
    String bob = "Authorization: Bearer key-bob";
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ids.add(submit(chat("alice " + i), alice).json().path("id").asText());
    }
    String bobs = submit(chat("bob"), bob).json().path("id").asText();
    for (String id : ids) {
      awaitStatus(id, "completed", alice);
    }

    // Newest first, two per page, bodies omitted
    Answer page1 = get("/v1/relay/jobs?limit=2", alice);
    assertThat(page1.status()).as(page1.toString()).isEqualTo(200);
    JsonNode p1 = page1.json();
    assertThat(p1.path("object").asText()).isEqualTo("list");
    assertThat(ids(p1)).containsExactly(ids.get(4), ids.get(3));
    assertThat(p1.path("first_id").asText()).isEqualTo(ids.get(4));
    assertThat(p1.path("last_id").asText()).isEqualTo(ids.get(3));
    assertThat(p1.path("has_more").asBoolean()).isTrue();
    assertThat(p1.path("data").get(0).path("response").path("body").isNull()).as("bodies omitted").isTrue();
    JsonNode p2 = get("/v1/relay/jobs?limit=2&after=" + ids.get(3), alice).json();
    assertThat(ids(p2)).containsExactly(ids.get(2), ids.get(1));
    JsonNode p3 = get("/v1/relay/jobs?limit=2&after=" + ids.get(1), alice).json();
    assertThat(ids(p3)).containsExactly(ids.get(0));
    assertThat(p3.path("has_more").asBoolean()).isFalse();
    assertThat(ids(get("/v1/relay/jobs?status=completed", alice).json())).hasSize(5).doesNotContain(bobs);
    assertThat(ids(get("/v1/relay/jobs?status=queued", alice).json())).isEmpty();
    assertThat(ids(get("/v1/relay/jobs", bob).json())).containsExactly(bobs);
    assertThat(ids(get("/v1/relay/jobs", bob).json())).as("default limit").hasSize(1);

    // Another owner's job does not exist for bob, on every endpoint
    String alices = "/v1/relay/jobs/" + ids.get(0);
    for (Answer a : List.of(get(alices, bob), get(alices + "/result", bob), post(alices + "/cancel", "", bob), delete(alices, bob))) {
      assertThat(a.status()).as(a.toString()).isEqualTo(404);
      assertThat(a.errorCode()).isEqualTo("job_not_found");
      assertThat(a.header("X-Request-Id")).isNotBlank();
    }
    assertThat(get(alices, alice).status()).as("untouched").isEqualTo(200);

    // Without a key: 401 before anything else
    assertThat(get("/v1/relay/jobs").status()).isEqualTo(401);
    assertThat(get(alices).errorCode()).isEqualTo("invalid_proxy_key");

    // Bad parameters
    for (String q : List.of("limit=0", "limit=101", "limit=x", "status=done", "after=nope")) {
      Answer a = get("/v1/relay/jobs?" + q, alice);
      assertThat(a.status()).as(q + ": " + a).isEqualTo(400);
      assertThat(a.errorCode()).isEqualTo("invalid_parameter");
    }

    // Delete: gone for good
    Answer deleted = delete(alices, alice);
    assertThat(deleted.status()).isEqualTo(200);
    assertThat(deleted.json().path("id").asText()).isEqualTo(ids.get(0));
    assertThat(deleted.json().path("object").asText()).isEqualTo("relay.job.deleted");
    assertThat(deleted.json().path("deleted").asBoolean()).isTrue();
    assertThat(get(alices, alice).status()).isEqualTo(404);
    assertThat(delete(alices, alice).status()).isEqualTo(404);
  }

  @Test
  void t10_anInteractiveRequestIsNotDelayedBehindTenQueuedSlowJobs() throws Exception {
    start(c -> c.maxConcurrentRequests(4), j -> j.maxConcurrent(2), List.of());
    for (int i = 0; i < 10; i++) {
      submit(chat("slow " + i));
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> upstream.held.get() == 2);

    long begin = System.nanoTime();
    Answer interactive = post("/v1/chat/completions", CHAT);
    long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin);

    assertThat(interactive.status()).isEqualTo(200);
    assertThat(tookMillis).as("served at once, beside the jobs").isLessThan(2_000);
    assertThat(upstream.held.get()).as("jobs still hold only their own slots").isEqualTo(2);
    upstream.release();
    await().atMost(Duration.ofSeconds(30)).until(() -> upstream.callsWith("slow") == 10
        && get("/v1/relay/jobs?status=completed&limit=100").json().path("data").size() == 10);
  }

  @Test
  void t11_neitherTheClientsAuthorizationNorTheProxyKeyReachesTheStoreFiles() throws Exception {
    start(c -> c, j -> j, List.of("sk-proxy-key-secret-777"));
    String id = submit(chat("keep this prompt"), "Authorization: Bearer sk-proxy-key-secret-777",
        "Cookie: session=cookie-secret-456", "X-Title: my app").json().path("id").asText();
    awaitStatus(id, "completed", "Authorization: Bearer sk-proxy-key-secret-777");
    upstream.holdAgain();
    String queued = submit(chat("slow prompt on disk"), "Authorization: Bearer sk-proxy-key-secret-777").json().path("id").asText();
    await().atMost(Duration.ofSeconds(10)).until(() -> upstream.held.get() == 1);

    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir.resolve("data"))) {
      s.forEach(files::add);
    }
    boolean sawPrompt = false;
    for (Path f : files) {
      String bytes = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
      assertThat(bytes).as(f.toString()).doesNotContain("sk-proxy-key-secret-777", "cookie-secret-456", UPSTREAM_KEY, "Bearer");
      sawPrompt |= bytes.contains("slow prompt on disk");
    }
    assertThat(sawPrompt).as("the running job's prompt is on disk, so the right bytes were searched").isTrue();
    upstream.release();
    awaitStatus(queued, "completed", "Authorization: Bearer sk-proxy-key-secret-777");
  }

  // ---- checks before anything is stored ------------------------------------------------------

  @Test
  void invalidRequestsAreRefusedAsOnTheSynchronousPathAndNothingIsStored() throws Exception {
    start(c -> c.maxRequestBytes(1000), j -> j, List.of("k1"));
    String async = "Prefer: respond-async";
    String key = "Authorization: Bearer k1";

    Answer noKey = post("/v1/chat/completions", CHAT, async);
    assertThat(noKey.status()).isEqualTo(401);
    Answer badJson = post("/v1/chat/completions", "{not json", async, key);
    assertThat(badJson.status()).isEqualTo(400);
    assertThat(badJson.errorCode()).isEqualTo("invalid_json");
    Answer tooLarge = post("/v1/chat/completions", chat("x".repeat(2000)), async, key);
    assertThat(tooLarge.status()).isEqualTo(413);
    Answer stream = post("/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}", async, key);
    assertThat(stream.status()).isEqualTo(400);
    assertThat(stream.errorCode()).isEqualTo("async_stream_not_supported");
    Answer badIdempotencyKey = post("/v1/chat/completions", CHAT, async, key, "Idempotency-Key: " + "k".repeat(300));
    assertThat(badIdempotencyKey.status()).isEqualTo(400);
    assertThat(badIdempotencyKey.errorCode()).isEqualTo("invalid_parameter");

    assertThat(rows()).as("nothing was stored").isZero();
    assertThat(upstream.calls.get()).isZero();
    assertThat(client.stats().rejected()).as("each refusal accounted").isGreaterThanOrEqualTo(5);
    for (Answer a : List.of(noKey, badJson, tooLarge, stream, badIdempotencyKey)) {
      assertThat(a.header("X-Request-Id")).isNotBlank();
      assertThat(a.header("Content-Type")).startsWith("application/json");
    }
  }

  @Test
  void withoutAnUpstreamKeyAsyncIsRefused() throws Exception {
    start(c -> c.upstreamApiKey(null), j -> j, List.of());
    Answer a = post("/v1/chat/completions", CHAT, "Authorization: Bearer sk-client-own", "Prefer: respond-async");
    assertThat(a.status()).isEqualTo(400);
    assertThat(a.errorCode()).isEqualTo("async_requires_upstream_key");
    assertThat(rows()).isZero();
    assertThat(upstream.calls.get()).isZero();
  }

  @Test
  void withoutJobsThePreferenceIsIgnoredAndTheJobEndpointsAre404() throws Exception {
    start(c -> c, null, List.of());
    Answer a = post("/v1/chat/completions", CHAT, "Prefer: respond-async, wait=5");
    assertThat(a.status()).isEqualTo(200);
    assertThat(a.body()).isEqualTo(Upstreams.CHAT_JSON);
    assertThat(a.header("Preference-Applied")).isNull();
    Answer list = get("/v1/relay/jobs");
    assertThat(list.status()).isEqualTo(404);
    assertThat(list.errorCode()).isEqualTo("not_found");
  }

  @Test
  void jobsSwitchedOffInTheirSettingsAreLikeNoJobs() throws Exception {
    start(c -> c, j -> j.enabled(false), List.of());
    assertThat(post("/v1/chat/completions", CHAT, "Prefer: respond-async").status()).isEqualTo(200);
    assertThat(get("/v1/relay/jobs").status()).isEqualTo(404);
  }

  @Test
  void wrongMethodsAre405WithAllowAndUnknownJobsAre404() throws Exception {
    start();
    String id = "/v1/relay/jobs/job_00000000000000000000000000000000";
    record Case(String method, String path, String allow) {}
    for (Case c : List.of(
        new Case("PUT", "/v1/relay/jobs", "GET, POST"),
        new Case("POST", id, "GET, DELETE"),
        new Case("DELETE", id + "/result", "GET"),
        new Case("GET", id + "/cancel", "POST"))) {
      Answer a = method(c.method(), c.path());
      assertThat(a.status()).as(c + ": " + a).isEqualTo(405);
      assertThat(a.header("Allow")).isEqualTo(c.allow());
      assertThat(a.errorCode()).isEqualTo("method_not_allowed");
    }
    for (String path : List.of(id, id + "/result", "/v1/relay/jobs/not-a-job-id")) {
      Answer a = get(path);
      assertThat(a.status()).as(path).isEqualTo(404);
      assertThat(a.errorCode()).isEqualTo("job_not_found");
    }
    assertThat(get("/v1/relay/jobs/x/y/z").errorCode()).isEqualTo("not_found");
  }

  @Test
  void theExplicitFormTakesEndpointBodyAndMetadata() throws Exception {
    start();
    Answer a = post("/v1/relay/jobs",
        "{\"endpoint\":\"/v1/chat/completions\",\"body\":" + CHAT + ",\"metadata\":{\"batch\":\"7\",\"user\":\"ann\"}}");
    assertThat(a.status()).as(a.toString()).isEqualTo(202);
    assertThat(a.header("Preference-Applied")).isEqualTo("respond-async");
    String id = a.json().path("id").asText();
    assertThat(a.json().path("metadata").path("batch").asText()).isEqualTo("7");
    assertThat(a.json().path("model").asText()).isEqualTo("test-model");
    awaitStatus(id, "completed");
    assertThat(upstream.bodies).as("the inner body was sent as it was").contains(CHAT);

    List<String> refused = List.of(
        "{\"endpoint\":\"/v1/models\",\"body\":{}}",
        "{\"endpoint\":\"/v1/chat/completions\"}",
        "{\"body\":" + CHAT + "}",
        "{\"endpoint\":\"/v1/chat/completions\",\"body\":" + CHAT + ",\"metadata\":[1]}",
        "{\"endpoint\":\"/v1/chat/completions\",\"body\":" + CHAT + ",\"metadata\":{\"n\":1}}",
        "{\"endpoint\":\"/v1/chat/completions\",\"body\":" + CHAT + ",\"metadata\":" + seventeenKeys() + "}",
        "{\"endpoint\":\"/v1/chat/completions\",\"body\":" + CHAT + ",\"metdata\":{}}");
    for (String body : refused) {
      Answer r = post("/v1/relay/jobs", body);
      assertThat(r.status()).as(body + " -> " + r).isEqualTo(400);
      assertThat(r.errorCode()).isEqualTo("invalid_parameter");
    }
    Answer notObject = post("/v1/relay/jobs", "{\"endpoint\":\"/v1/chat/completions\",\"body\":\"hi\"}");
    assertThat(notObject.errorCode()).isEqualTo("invalid_json");
    Answer streaming = post("/v1/relay/jobs", "{\"endpoint\":\"/v1/chat/completions\",\"body\":{\"stream\":true}}");
    assertThat(streaming.errorCode()).isEqualTo("async_stream_not_supported");
    assertThat(rows()).as("only the one good job").isEqualTo(1);
  }

  private static String seventeenKeys() {
    StringBuilder b = new StringBuilder("{");
    for (int i = 0; i < 17; i++) {
      b.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":\"v\"");
    }
    return b.append("}").toString();
  }

  @Test
  void underAPrefixTheLocationCarriesThePrefixAndEmbeddingsWork() throws Exception {
    prefix = "/llm";
    start();
    Answer a = post("/v1/embeddings", "{\"model\":\"e\",\"input\":\"hi\"}", "Prefer: respond-async");
    assertThat(a.status()).as(a.toString()).isEqualTo(202);
    String id = a.json().path("id").asText();
    assertThat(a.json().path("endpoint").asText()).isEqualTo("/v1/embeddings");
    assertThat(a.header("Location")).isEqualTo("/llm/v1/relay/jobs/" + id);
    awaitStatus(id, "completed");
    assertThat(get("/v1/relay/jobs/" + id + "/result").status()).isEqualTo(200);
    assertThat(upstream.server.takeRequest().getTarget()).isEqualTo("/v1/embeddings");
  }

  @Test
  void aRunningJobsResultIs202WithRetryAfter() throws Exception {
    start();
    String id = submit(chat("slow")).json().path("id").asText();
    await().atMost(Duration.ofSeconds(10)).until(() -> upstream.held.get() == 1);
    Answer pending = get("/v1/relay/jobs/" + id + "/result");
    assertThat(pending.status()).isEqualTo(202);
    assertThat(pending.header("Retry-After")).isEqualTo("2");
    assertThat(pending.json().path("status").asText()).isEqualTo("in_progress");
    upstream.release();
    awaitStatus(id, "completed");
  }

  private static List<String> ids(JsonNode list) {
    List<String> ids = new ArrayList<>();
    list.path("data").forEach(j -> ids.add(j.path("id").asText()));
    return ids;
  }
}
