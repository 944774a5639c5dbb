package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Issue 13, test 12 (and 14): while the job store fails, a submission is 503 {@code
 * job_store_unavailable} with {@code Retry-After} and never a 202 without a row; synchronous
 * traffic is unaffected; once the store is back, submissions work again without a restart; and
 * every permit is back afterwards (the leak check). Each engine breaks its store its own way.
 */
abstract class JobStoreFailureContract extends JobsTestBase {

  abstract void breakStore() throws Exception;

  abstract void repairStore() throws Exception;

  @Test
  void t12_aFailedStoreRefusesSubmissionsWith503AndRecoversWithoutARestart() throws Exception {
    start();
    String before = submit(chat("before")).json().path("id").asText();
    awaitStatus(before, "completed");

    breakStore();
    try {
      Answer during = post("/v1/chat/completions", chat("during the outage"), "Prefer: respond-async");
      assertThat(during.status()).as(during.toString()).isEqualTo(503);
      assertThat(during.errorCode()).isEqualTo("job_store_unavailable");
      assertThat(during.header("Retry-After")).isEqualTo("5");
      assertThat(during.header("X-Request-Id")).isNotBlank();
      Answer explicit = post("/v1/relay/jobs", "{\"endpoint\":\"/v1/chat/completions\",\"body\":" + chat("during explicit") + "}");
      assertThat(explicit.status()).as(explicit.toString()).isEqualTo(503);

      // Synchronous traffic does not depend on the store
      Answer sync = post("/v1/chat/completions", CHAT);
      assertThat(sync.status()).isEqualTo(200);
      assertThat(sync.body()).isEqualTo(Upstreams.CHAT_JSON);
    } finally {
      repairStore();
    }

    // Back without a restart
    String after = submit(chat("after")).json().path("id").asText();
    awaitStatus(after, "completed");
    await().atMost(Duration.ofSeconds(10)).until(() -> jobs.stats().storeUp());

    // No 202 was given without a row, and no row exists for what was refused
    List<String> ids = new java.util.ArrayList<>();
    get("/v1/relay/jobs?limit=100").json().path("data").forEach(j -> ids.add(j.path("id").asText()));
    assertThat(ids).containsExactly(after, before);
    assertThat(rows()).isEqualTo(2);
    assertThat(upstream.callsWith("during")).as("nothing refused reached the upstream").isZero();
  }
}
