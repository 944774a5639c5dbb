package dev.llmrelay.core.shared;

import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.util.concurrent.atomic.AtomicInteger;

@RequiresPostgres
class PostgresSharedStateTest extends SharedStateContract {
  private static final AtomicInteger databases = new AtomicInteger();
  private String url;

  @Override
  SharedState newState() {
    PostgresEngine pg = PostgresEngine.shared();
    if (url == null) {
      url = pg.createDatabase("shared_" + databases.incrementAndGet());
    }
    return SharedStates.create(
        SharedStateConfig.builder().url(url).user(pg.user()).password(pg.password()).maxConcurrentRequests(1).build());
  }
}
