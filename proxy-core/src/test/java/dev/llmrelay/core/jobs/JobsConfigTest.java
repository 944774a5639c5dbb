package dev.llmrelay.core.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link JobsConfig#fromEnvironment}: defaults, and the {@code *_SECONDS} rule of DESIGN.md §6. */
class JobsConfigTest {
  @Test
  void defaultsFollowTheReadmeTable() {
    JobsConfig c = JobsConfig.fromEnvironment(Map.of(), 10);
    assertThat(c.enabled()).isTrue();
    assertThat(c.storeUrl()).isEqualTo("jdbc:sqlite:llmrelay-data/jobs.db");
    assertThat(c.resultTtl()).isEqualTo(Duration.ofDays(1));
    assertThat(c.maxQueue()).isEqualTo(Duration.ofDays(1));
    assertThat(c.lease()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.maxAttempts()).isEqualTo(3);
    assertThat(c.maxConcurrent()).isEqualTo(5);
    assertThat(JobsConfig.fromEnvironment(Map.of(), 1).maxConcurrent()).isEqualTo(1);
  }

  @Test
  void secondsAcceptDecimalsLikeEverySecondsSetting() {
    JobsConfig c = JobsConfig.fromEnvironment(
        Map.of("JOB_LEASE_SECONDS", "0.5", "JOB_RESULT_TTL_SECONDS", "1.25", "JOB_MAX_QUEUE_SECONDS", "30"), 10);
    assertThat(c.lease()).isEqualTo(Duration.ofMillis(500));
    assertThat(c.resultTtl()).isEqualTo(Duration.ofMillis(1250));
    assertThat(c.maxQueue()).isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void anInvalidValueNamesItsVariable() {
    for (String bad : new String[] {"0", "-1", "soon", "0.0001"}) {
      assertThatThrownBy(() -> JobsConfig.fromEnvironment(Map.of("JOB_LEASE_SECONDS", bad), 10))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("JOB_LEASE_SECONDS");
    }
    assertThatThrownBy(() -> JobsConfig.fromEnvironment(Map.of("JOB_MAX_ATTEMPTS", "1.5"), 10))
        .hasMessageContaining("JOB_MAX_ATTEMPTS");
  }
}
