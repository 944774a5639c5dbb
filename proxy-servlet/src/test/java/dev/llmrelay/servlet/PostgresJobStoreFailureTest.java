package dev.llmrelay.servlet;

import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;

/** Test 12 on PostgreSQL: the private cluster stopped with {@code pg_ctl -m immediate}, then started again. */
@RequiresPostgres
class PostgresJobStoreFailureTest extends JobStoreFailureContract {
  private static final AtomicInteger databases = new AtomicInteger();
  private PostgresEngine pg;
  private String url;

  @BeforeEach
  void database(PostgresEngine pg) {
    this.pg = pg;
    this.url = pg.createDatabase("servlet_jobs_" + databases.incrementAndGet());
  }

  @Override
  String storeUrl() {
    return url;
  }

  @Override
  String[] storeCredentials() {
    return new String[] {pg.user(), pg.password()};
  }

  @Override
  void breakStore() {
    pg.stopImmediately();
  }

  @Override
  void repairStore() {
    pg.start();
  }
}
