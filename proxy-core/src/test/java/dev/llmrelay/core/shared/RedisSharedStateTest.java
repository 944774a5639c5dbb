package dev.llmrelay.core.shared;

import dev.llmrelay.core.testing.RedisEngine;
import dev.llmrelay.core.testing.RequiresRedis;
import org.junit.jupiter.api.BeforeEach;

@RequiresRedis
class RedisSharedStateTest extends SharedStateContract {
  @Override
  @BeforeEach
  void open() {
    RedisEngine.shared().flushAll();
    super.open();
  }

  @Override
  SharedState newState() {
    return SharedStates.create(
        SharedStateConfig.builder().url(RedisEngine.shared().uri()).maxConcurrentRequests(1).build());
  }
}
