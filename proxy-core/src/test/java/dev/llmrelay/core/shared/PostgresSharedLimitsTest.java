package dev.llmrelay.core.shared;

import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;

@RequiresPostgres
class PostgresSharedLimitsTest extends SharedLimitsContract {
  private static final AtomicInteger databases = new AtomicInteger();
  private PostgresEngine pg;
  private String url;

  @BeforeEach
  void database(PostgresEngine pg) {
    this.pg = pg;
    this.url = pg.createDatabase("limits_" + databases.incrementAndGet());
  }

  @Override
  SharedStateConfig.Builder engine() {
    return SharedStateConfig.builder().url(url).user(pg.user()).password(pg.password());
  }

  @Override
  void stopEngine() {
    pg.stopImmediately();
  }

  @Override
  void startEngine() {
    pg.start();
  }
}
