package dev.llmrelay.core.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.TestConfigs;
import dev.llmrelay.core.UpstreamClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The job service on an embedded SQLite file. */
class SqliteJobsTest extends JobsContract {
  @TempDir Path dir;

  Path file() {
    return dir.resolve("data/jobs.db");
  }

  @Override
  JobsConfig.Builder store() {
    return JobsConfig.builder().storeUrl("jdbc:sqlite:" + file());
  }

  @Test
  void noCredentialReachesTheFilesOnDisk() throws Exception {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().build());
    String queuedId = null;
    Submitted done = jobs.submit(chat(OWNER, "hi", null));
    awaitStatus(jobs, OWNER, done.job().id(), JobStatus.COMPLETED);
    upstreamGate = new java.util.concurrent.CountDownLatch(1);
    Submitted running = jobs.submit(chat(OWNER, "running", null));
    awaitStatus(jobs, OWNER, running.job().id(), JobStatus.IN_PROGRESS);
    queuedId = jobs.submit(chat(OWNER, "queued", null)).job().id();

    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.list(file().getParent())) {
      s.forEach(files::add);
    }
    assertThat(files).isNotEmpty();
    boolean sawBody = false;
    for (Path f : files) {
      String bytes = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
      assertThat(bytes).as(f.toString()).doesNotContain("sk-client-secret-123", "cookie-secret-456", "sk-upstream");
      sawBody |= bytes.contains("queued");
    }
    assertThat(sawBody).as("the queued prompt is on disk, so the search looked at the right bytes").isTrue();
    assertThat(queuedId).isNotNull();
    upstreamGate.countDown();
  }

  @Test
  void aReadOnlyFileRefusesSubmissionsUntilItIsWritableAgain() throws Exception {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().build());
    Submitted before = jobs.submit(chat(OWNER, "before", null));
    awaitStatus(jobs, OWNER, before.job().id(), JobStatus.COMPLETED);

    readOnly(true);
    try {
      assertThatThrownBy(() -> jobs.submit(chat(OWNER, "during", null)))
          .isInstanceOf(JobStoreUnavailableException.class)
          .hasMessageNotContaining("secret");
      // Interactive traffic does not depend on the store.
      assertThat(client.newExchange(TestConfigs.chat("interactive"), new dev.llmrelay.core.RecordingSink()).execute().status())
          .isEqualTo(200);
    } finally {
      readOnly(false);
    }
    Submitted after = jobs.submit(chat(OWNER, "after", null));
    awaitStatus(jobs, OWNER, after.job().id(), JobStatus.COMPLETED);
    assertThat(jobs.list(OWNER, 10, null, null).jobs()).extracting(Job::id)
        .containsExactly(after.job().id(), before.job().id());
    assertThat(callsByBody.keySet()).noneMatch(b -> b.contains("during"));
  }

  @Test
  void metricsCountJobsByStatusClaimsAndStoreHealth() {
    UpstreamClient client = client(2);
    RelayJobs jobs = jobs(client, fast().build());
    io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
        new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    new dev.llmrelay.core.metrics.JobMetrics(jobs).bindTo(registry);
    Submitted s = jobs.submit(chat(OWNER, "hi", null));
    awaitStatus(jobs, OWNER, s.job().id(), JobStatus.COMPLETED);

    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).untilAsserted(() ->
        assertThat(registry.get("llmrelay.jobs").tag("status", "completed").gauge().value()).isEqualTo(1.0));
    assertThat(registry.get("llmrelay.jobs").tag("status", "queued").gauge().value()).isZero();
    assertThat(registry.get("llmrelay.job.claims").functionCounter().count()).isEqualTo(1.0);
    assertThat(registry.get("llmrelay.job.store.up").gauge().value()).isEqualTo(1.0);
    assertThat(registry.get("llmrelay.jobs.running").gauge().value()).isZero();
  }

  /**
   * Makes the database's files unwritable: chmod for an ordinary user; for root, which chmod does
   * not stop, the immutable attribute.
   */
  private void readOnly(boolean on) throws IOException, InterruptedException {
    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.list(file().getParent())) {
      s.forEach(files::add);
    }
    files.add(file().getParent());
    boolean root = "root".equals(System.getProperty("user.name"));
    for (Path f : files) {
      if (root) {
        Process p = new ProcessBuilder("chattr", on ? "+i" : "-i", f.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("chattr: " + out).isZero();
      } else {
        f.toFile().setWritable(!on, false);
      }
    }
  }
}
