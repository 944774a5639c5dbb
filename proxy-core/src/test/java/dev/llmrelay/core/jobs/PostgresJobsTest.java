package dev.llmrelay.core.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.TestConfigs;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The job service on a private PostgreSQL cluster: each test on a database of its own. */
@RequiresPostgres
class PostgresJobsTest extends JobsContract {
  private static final AtomicInteger databases = new AtomicInteger();
  PostgresEngine pg;
  String url;

  @BeforeEach
  void database(PostgresEngine pg) {
    this.pg = pg;
    this.url = pg.createDatabase("jobs_" + databases.incrementAndGet());
  }

  @Override
  JobsConfig.Builder store() {
    return JobsConfig.builder().storeUrl(url).storeUser(pg.user()).storePassword(pg.password());
  }

  @Test
  void noCredentialIsStoredInAnyRow() throws Exception {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().build());
    Submitted done = jobs.submit(chat(OWNER, "hi", null));
    awaitStatus(jobs, OWNER, done.job().id(), JobStatus.COMPLETED);
    upstreamGate = new java.util.concurrent.CountDownLatch(1);
    Submitted running = jobs.submit(chat(OWNER, "running", null));
    awaitStatus(jobs, OWNER, running.job().id(), JobStatus.IN_PROGRESS);
    jobs.submit(chat(OWNER, "queued", null));

    StringBuilder all = new StringBuilder();
    try (Connection c = DriverManager.getConnection(url, pg.user(), pg.password());
        Statement s = c.createStatement();
        ResultSet r = s.executeQuery("SELECT t::text, encode(t.request_body, 'escape') FROM llmrelay_jobs t")) {
      while (r.next()) {
        all.append(r.getString(1)).append('\n').append(r.getString(2)).append('\n');
      }
    }
    assertThat(all).contains("queued").doesNotContain("sk-client-secret-123", "cookie-secret-456", "sk-upstream");
    upstreamGate.countDown();
  }

  @Test
  void aStoppedDatabaseRefusesSubmissionsAndTheServiceRecoversWithoutARestart() {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().build());
    Submitted before = jobs.submit(chat(OWNER, "before", null));
    awaitStatus(jobs, OWNER, before.job().id(), JobStatus.COMPLETED);

    pg.stopImmediately();
    try {
      assertThatThrownBy(() -> jobs.submit(chat(OWNER, "during", null)))
          .isInstanceOf(JobStoreUnavailableException.class)
          .hasMessageNotContaining(pg.password());
      assertThat(client.newExchange(TestConfigs.chat("interactive"), new dev.llmrelay.core.RecordingSink()).execute().status())
          .isEqualTo(200);
      await().atMost(Duration.ofSeconds(5)).until(() -> !jobs.stats().storeUp());
    } finally {
      pg.start();
    }
    Submitted after = jobs.submit(chat(OWNER, "after", null));
    awaitStatus(jobs, OWNER, after.job().id(), JobStatus.COMPLETED);
    await().atMost(Duration.ofSeconds(5)).until(() -> jobs.stats().storeUp());
    assertThat(callsByBody.keySet()).noneMatch(b -> b.contains("during"));
  }

  @Test
  void twoInstancesRunFiftyJobsEachExactlyOnceAndOneStoppingLosesNone() {
    upstreamDelay = Duration.ofMillis(40);
    UpstreamClient a = client(4);
    UpstreamClient b = client(4);
    RelayJobs first = jobs(a, fast().instanceId("a").maxConcurrent(3).build());
    RelayJobs second = jobs(b, fast().instanceId("b").maxConcurrent(3).build());
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      ids.add((i % 2 == 0 ? first : second).submit(chat(OWNER, "job-" + i, null)).job().id());
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> first.stats().claims() >= 5 && second.stats().claims() >= 5);
    first.shutdown(Duration.ofSeconds(10)); // mid-run: it finishes what it runs and claims no more
    long claimedByFirst = first.stats().claims();

    await().atMost(Duration.ofSeconds(60)).until(
        () -> second.list(OWNER, 100, null, JobStatus.COMPLETED).jobs().size() == 50);
    Set<String> done = new HashSet<>();
    for (Job j : second.list(OWNER, 100, null, JobStatus.COMPLETED).jobs()) {
      done.add(j.id());
    }
    assertThat(done).containsExactlyInAnyOrderElementsOf(ids);
    for (int i = 0; i < 50; i++) {
      String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"job-" + i + "\"}]}";
      assertThat(callsByBody.get(body)).as("upstream calls for job-" + i).hasValue(1);
    }
    assertThat(first.stats().claims()).as("no claim after the shutdown began").isEqualTo(claimedByFirst);
    assertThat(second.list(OWNER, 100, null, JobStatus.COMPLETED).jobs()).allSatisfy(j -> assertThat(j.attempts()).isEqualTo(1));
  }
}
