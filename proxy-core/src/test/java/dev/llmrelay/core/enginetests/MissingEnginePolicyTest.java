package dev.llmrelay.core.enginetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.testing.EngineUnavailableException;
import dev.llmrelay.core.testing.MissingEnginePolicy;
import dev.llmrelay.core.testing.MissingEnginePolicy.Decision;
import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RedisEngine;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

/**
 * A missing engine skips a test on a developer's machine and fails it under CI=true; the
 * environment is given to the policy, not changed.
 */
class MissingEnginePolicyTest {
  private static final Map<String, String> CI = Map.of("CI", "true");
  private static final Map<String, String> LOCAL = Map.of();

  @TempDir Path empty;

  @Test
  void ciTrueFailsAndEverythingElseSkips() {
    assertThat(MissingEnginePolicy.of(CI).decide()).isEqualTo(Decision.FAIL);
    assertThat(MissingEnginePolicy.of(Map.of("CI", "TRUE")).decide()).isEqualTo(Decision.FAIL);
    assertThat(MissingEnginePolicy.of(Map.of("CI", "1")).decide()).isEqualTo(Decision.FAIL);

    assertThat(MissingEnginePolicy.of(LOCAL).decide()).isEqualTo(Decision.SKIP);
    assertThat(MissingEnginePolicy.of(Map.of("CI", "false")).decide()).isEqualTo(Decision.SKIP);
    assertThat(MissingEnginePolicy.of(Map.of("CI", "")).decide()).isEqualTo(Decision.SKIP);
  }

  @Test
  void missingPostgresFailsUnderCiNamingItAndTheInstall() {
    MissingEnginePolicy policy = MissingEnginePolicy.of(CI);
    assertThatThrownBy(() -> policy.require(() -> PostgresEngine.builder().binDirectory(empty).start()))
        .isInstanceOf(EngineUnavailableException.class)
        .hasMessageStartingWith("PostgreSQL is not available: no executable initdb in " + empty)
        .hasMessageContaining("CI=true")
        .hasMessageContaining("apt-get install -y postgresql");
  }

  @Test
  void missingPostgresSkipsLocally() {
    MissingEnginePolicy policy = MissingEnginePolicy.of(LOCAL);
    assertThatThrownBy(() -> policy.require(() -> PostgresEngine.builder().binDirectory(empty).start()))
        .isInstanceOf(TestAbortedException.class)
        .hasMessageContaining("PostgreSQL is not available")
        .hasMessageContaining("apt-get install -y postgresql");
  }

  @Test
  void missingRedisFailsUnderCiAndSkipsLocally() {
    Path nowhere = empty.resolve("redis-server");
    assertThatThrownBy(() -> MissingEnginePolicy.of(CI).require(() -> RedisEngine.builder().executable(nowhere).start()))
        .isInstanceOf(EngineUnavailableException.class)
        .hasMessageStartingWith("Redis is not available: no executable redis-server at " + nowhere)
        .hasMessageContaining("CI=true")
        .hasMessageContaining("apt-get install -y redis-server");
    assertThatThrownBy(() -> MissingEnginePolicy.of(LOCAL).require(() -> RedisEngine.builder().executable(nowhere).start()))
        .isInstanceOf(TestAbortedException.class)
        .hasMessageContaining("Redis is not available")
        .hasMessageContaining("apt-get install -y redis-server");
  }

  @Test
  void aStartFailureIsNeverASkip() {
    // An installed engine that does not start is a failure even off CI: only a missing one skips.
    IllegalStateException broken = new IllegalStateException("pg_ctl start failed");
    assertThatThrownBy(() -> MissingEnginePolicy.of(LOCAL).require(() -> {
          throw broken;
        }))
        .isSameAs(broken);
  }

  @Test
  void anAvailableEngineIsPassedThrough() {
    assertThat(MissingEnginePolicy.of(CI).require(() -> "engine")).isEqualTo("engine");
  }
}
