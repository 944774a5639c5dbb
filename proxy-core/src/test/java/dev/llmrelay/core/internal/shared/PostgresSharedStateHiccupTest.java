package dev.llmrelay.core.internal.shared;

import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.shared.SharedStateConfig;
import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

@RequiresPostgres
class PostgresSharedStateHiccupTest {
  /** A release queued behind slow calls is dropped: the permit stays taken until its lease lapses. */
  @Test
  void aReleaseQueuedDuringAHiccupStillRuns(PostgresEngine pg) throws Exception {
    String url = pg.createDatabase("hiccup_release");
    SharedStateConfig config = SharedStateConfig.builder().url(url).user(pg.user()).password(pg.password())
        .maxConcurrentRequests(1).instanceId("a").build();
    PostgresSharedState state = new PostgresSharedState(url, pg.user(), pg.password(), config.timeout());
    ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2);
    SharedLimits limits = new SharedLimits(state, config, scheduler, Duration.ofSeconds(5));
    try (Connection other = DriverManager.getConnection(url, pg.user(), pg.password())) {
      SharedLimits.Lease lease = limits.acquire("r1", System.nanoTime() + TimeUnit.SECONDS.toNanos(5), System.nanoTime())
          .get(5, TimeUnit.SECONDS);
      assertThat(lease.global()).isTrue();
      try (Statement s = other.createStatement()) {
        s.execute("SELECT pg_advisory_lock(" + 0x6c6c6d72656c6179L + ")"); // a slow moment of the engine
      }
      // two other requests ask meanwhile (each blocks the one engine thread up to statement_timeout)
      limits.acquire("r2", System.nanoTime() + TimeUnit.SECONDS.toNanos(5), System.nanoTime());
      limits.acquire("r3", System.nanoTime() + TimeUnit.SECONDS.toNanos(5), System.nanoTime());
      lease.release(); // request r1 ends during the hiccup
      Thread.sleep(1500); // the engine's slow moment lasts this long
      try (Statement s = other.createStatement()) {
        s.execute("SELECT pg_advisory_unlock_all()");
      }
      // r1 ended and released its permit: once the engine answers again, nobody holds it.
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
          .until(() -> state.held().toCompletableFuture().get(5, TimeUnit.SECONDS) == 0);
    } finally {
      limits.close();
      scheduler.shutdownNow();
    }
  }
}
