package dev.llmrelay.core.internal.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.jobs.Job;
import dev.llmrelay.core.jobs.JobStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The store's leases and fencing, the same in every dialect. */
abstract class JobStoreContract {
  JdbcJobStore store;
  DataSource ds;

  abstract DataSource dataSource();

  abstract Dialect dialect();

  @BeforeEach
  void createStore() {
    ds = dataSource();
    store = new JdbcJobStore(ds, dialect(), "test store");
    store.createSchema();
  }

  String insert(String content) {
    String id = RealRelayJobs.newId();
    store.insert(id, "o", "/v1/chat/completions", "m", null, content.getBytes(StandardCharsets.UTF_8),
        "hash-" + content, null, null, 60_000, Integer.MAX_VALUE);
    return id;
  }

  @Test
  void aWorkerWhoseLeaseLapsedAndWasClaimedAgainCannotWriteItsResult() {
    String id = insert("a");
    JdbcJobStore.Claim first = store.claimNext("worker-1", 200);
    assertThat(first.id()).isEqualTo(id);
    assertThat(first.attempts()).isEqualTo(1);
    assertThat(store.claimNext("worker-2", 200)).isNull(); // held

    await().atMost(Duration.ofSeconds(5)).until(() -> store.sweep(3, 60_000).requeued() == 1);
    JdbcJobStore.Claim second = store.claimNext("worker-2", 60_000);
    assertThat(second.id()).isEqualTo(id);
    assertThat(second.attempts()).isEqualTo(2);

    assertThat(store.renew(first, 60_000)).isEqualTo(JdbcJobStore.Renewal.LOST);
    assertThat(store.finish(first, JobStatus.COMPLETED, 200, "application/json", bytes("stale"), null, null, 60_000))
        .isFalse();
    assertThat(store.release(first, 60_000)).isFalse();
    assertThat(store.renew(second, 60_000)).isEqualTo(JdbcJobStore.Renewal.RUNNING);
    assertThat(store.finish(second, JobStatus.COMPLETED, 200, "application/json", bytes("fresh"), null, null, 60_000))
        .isTrue();
    assertThat(store.finish(second, JobStatus.COMPLETED, 200, "application/json", bytes("twice"), null, null, 60_000))
        .isFalse();

    Job job = store.get("o", id, true).orElseThrow();
    assertThat(job.status()).isEqualTo(JobStatus.COMPLETED);
    assertThat(new String(job.response().body(), StandardCharsets.UTF_8)).isEqualTo("fresh");
    assertThat(job.attempts()).isEqualTo(2);
  }

  @Test
  void aJobWhoseLeasesLapseMaxAttemptsTimesFails() {
    String id = insert("b");
    for (int i = 1; i <= 2; i++) {
      assertThat(store.claimNext("w", 1).attempts()).isEqualTo(i);
      await().atMost(Duration.ofSeconds(5)).until(() -> store.sweep(2, 60_000).requeued() + store.sweep(2, 60_000).exhausted() >= 0
          && store.get("o", id, false).orElseThrow().status() != JobStatus.IN_PROGRESS);
    }
    Job job = store.get("o", id, false).orElseThrow();
    assertThat(job.status()).isEqualTo(JobStatus.FAILED);
    assertThat(job.error().code()).isEqualTo("job_attempts_exhausted");
    assertThat(store.claimNext("w", 60_000)).isNull();
  }

  @Test
  void claimsTakeTheOldestQueuedJobFirstAndEachOnlyOnce() {
    String a = insert("1");
    String b = insert("2");
    assertThat(store.claimNext("w", 60_000).id()).isEqualTo(a);
    assertThat(store.claimNext("w", 60_000).id()).isEqualTo(b);
    assertThat(store.claimNext("w", 60_000)).isNull();
    assertThat(store.claimById(a, "w", 60_000)).isNull();
  }

  @Test
  void jobsStoredWithinOneMillisecondKeepTheirOrderInListsAndClaims() {
    java.util.List<String> ids = new java.util.ArrayList<>();
    for (int i = 0; i < 30; i++) {
      ids.add(insert("order-" + i));
    }
    // All in one millisecond, as fast inserts are: the order must come from the insertion itself.
    try (java.sql.Connection c = ds.getConnection(); java.sql.Statement st = c.createStatement()) {
      st.executeUpdate("UPDATE llmrelay_jobs SET created_at = 1765000000000");
    } catch (java.sql.SQLException e) {
      throw new AssertionError(e);
    }
    java.util.List<String> newestFirst = new java.util.ArrayList<>(ids);
    java.util.Collections.reverse(newestFirst);
    assertThat(store.list("o", 100, null, null).jobs()).extracting(Job::id).containsExactlyElementsOf(newestFirst);
    assertThat(store.list("o", 10, ids.get(20), null).jobs()).extracting(Job::id)
        .containsExactlyElementsOf(newestFirst.subList(10, 20));
    for (String id : ids) {
      assertThat(store.claimNext("w", 60_000).id()).isEqualTo(id);
    }
  }

  @Test
  void aCancelAskedForWhileRunningWinsOverTheResult() {
    String id = insert("c");
    JdbcJobStore.Claim claim = store.claimNext("w", 60_000);
    assertThat(store.cancel("o", id, 60_000).orElseThrow().status()).isEqualTo(JobStatus.CANCELLING);
    assertThat(store.renew(claim, 60_000)).isEqualTo(JdbcJobStore.Renewal.CANCEL_REQUESTED);
    assertThat(store.finish(claim, JobStatus.COMPLETED, 200, "application/json", bytes("late"), null, null, 60_000)).isTrue();
    Job job = store.get("o", id, true).orElseThrow();
    assertThat(job.status()).isEqualTo(JobStatus.CANCELLED);
    assertThat(job.response()).isNull();
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
