package dev.llmrelay.core.shared;

import dev.llmrelay.core.testing.RedisEngine;
import dev.llmrelay.core.testing.RequiresRedis;
import org.junit.jupiter.api.BeforeEach;

@RequiresRedis
class RedisSharedLimitsTest extends SharedLimitsContract {
  private RedisEngine redis;

  @BeforeEach
  void empty(RedisEngine redis) {
    this.redis = redis;
    redis.flushAll();
  }

  @Override
  SharedStateConfig.Builder engine() {
    return SharedStateConfig.builder().url(redis.uri());
  }

  @Override
  void stopEngine() {
    redis.stop();
  }

  @Override
  void startEngine() {
    redis.start();
  }
}
