package dev.llmrelay.core.internal.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

@RequiresPostgres
class PostgresSchemaRaceTest {
  /** Two instances starting at once on a fresh PostgreSQL database (a first deployment with 2 replicas). */
  @Test
  void instancesStartingAtOnceOnANewDatabaseAllStart(PostgresEngine pg) throws Exception {
    AtomicInteger failed = new AtomicInteger();
    List<String> messages = new ArrayList<>();
    for (int round = 0; round < 8; round++) {
      String url = pg.createDatabase("schema_race_" + round);
      CountDownLatch go = new CountDownLatch(1);
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        Thread t = new Thread(() -> {
          JdbcJobStore store = new JdbcJobStore(
              new DriverDataSource(url, pg.user(), pg.password(), DriverDataSource.driverFor(url, url)), Dialect.POSTGRES, "pg");
          try {
            go.await();
            store.createSchema();
          } catch (Exception e) {
            failed.incrementAndGet();
            synchronized (messages) {
              messages.add(e.getMessage());
            }
          }
        });
        t.start();
        threads.add(t);
      }
      go.countDown();
      for (Thread t : threads) {
        t.join();
      }
    }
    assertThat(failed.get()).isZero();
  }
}
