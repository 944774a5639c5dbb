package dev.llmrelay.core.internal.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.llmrelay.core.jobs.Job;
import dev.llmrelay.core.jobs.JobStatus;
import dev.llmrelay.core.jobs.JobStoreUnavailableException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobStoreEdgeTest {
  @TempDir Path dir;

  /** A PostgreSQL that accepts TCP but never answers (a hung server, a half-open network path). */
  @Test
  void aPostgresThatNeverAnswersFailsAStoreCallInsteadOfBlockingIt() throws Exception {
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      List<Socket> held = new ArrayList<>();
      Thread acceptor = new Thread(() -> {
        try {
          while (true) {
            held.add(silent.accept());
          }
        } catch (Exception ignored) {
          // closed
        }
      });
      acceptor.setDaemon(true);
      acceptor.start();
      String url = "jdbc:postgresql://127.0.0.1:" + silent.getLocalPort() + "/jobs";
      JdbcJobStore store =
          new JdbcJobStore(new DriverDataSource(url, "u", "p", DriverDataSource.driverFor(url, url)), Dialect.POSTGRES, "pg");
      // The class promises "up to its query timeout" (10 s); give it 20 s.
      assertTimeoutPreemptively(Duration.ofSeconds(20),
          () -> assertThrows(JobStoreUnavailableException.class, store::countQueued));
    }
  }

  /** A job that started, and whose lease lapsed after JOB_MAX_QUEUE_SECONDS, expires as "never started". */
  @Test
  void aStartedJobWhoseLeaseLapsedAfterTheQueueLimitRunsAgain() throws Exception {
    String url = "jdbc:sqlite:" + dir.resolve("jobs.db");
    JdbcJobStore store = new JdbcJobStore(new DriverDataSource(url, null, null, DriverDataSource.driverFor(url, url)),
        Dialect.SQLITE, "sqlite");
    store.createSchema();
    String id = RealRelayJobs.newId();
    store.insert(id, "o", "/v1/chat/completions", "m", null, "{}".getBytes(StandardCharsets.UTF_8), "h", null, null, 500, Integer.MAX_VALUE);
    JdbcJobStore.Claim claim = store.claimNext("crashed-instance", 300);
    assertThat(claim).isNotNull();
    Thread.sleep(700); // the instance died; its lease lapsed after the queue limit passed
    store.sweep(3, 60_000);
    Job job = store.get("o", id, false).orElseThrow();
    assertThat(job.status()).as("at-least-once: a started job whose holder died runs again").isEqualTo(JobStatus.QUEUED);
  }
}
