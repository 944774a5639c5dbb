package dev.llmrelay.core.internal.jobs;

import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;

@RequiresPostgres
class PostgresJobStoreTest extends JobStoreContract {
  private static final AtomicInteger databases = new AtomicInteger();

  @Override
  DataSource dataSource() {
    // Called by the contract's @BeforeEach, which runs before this class's own.
    PostgresEngine pg = PostgresEngine.shared();
    String url = pg.createDatabase("store_" + databases.incrementAndGet());
    return new DriverDataSource(url, pg.user(), pg.password(), DriverDataSource.driverFor(url, url));
  }

  @Override
  Dialect dialect() {
    return Dialect.POSTGRES;
  }
}
