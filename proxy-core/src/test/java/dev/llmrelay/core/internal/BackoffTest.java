package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

class BackoffTest {
  private final Backoff backoff = new Backoff(Duration.ofMillis(1000), Duration.ofMillis(4000));

  @RepeatedTest(20)
  void delaysDoubleFromTheInitialToTheCapWithUpwardJitterOnly() {
    assertThat(backoff.delay(1, null).toMillis()).isBetween(1000L, 1200L);
    assertThat(backoff.delay(2, null).toMillis()).isBetween(2000L, 2400L);
    assertThat(backoff.delay(3, null).toMillis()).isBetween(4000L, 4800L);
    assertThat(backoff.delay(9, null).toMillis()).as("capped").isBetween(4000L, 4800L);
  }

  @RepeatedTest(20)
  void anUpstreamDelayIsAFloorNeverShortened() {
    assertThat(backoff.delay(1, Duration.ofMillis(1500)).toMillis()).isBetween(1500L, 1700L);
    assertThat(backoff.delay(3, Duration.ofMillis(100)).toMillis())
        .as("a short Retry-After is honoured as asked, not the longer backoff")
        .isBetween(100L, 120L);
  }

  @Test
  void zeroBackoffMeansNoDelay() {
    assertThat(new Backoff(Duration.ZERO, Duration.ZERO).delay(3, null)).isEqualTo(Duration.ZERO);
  }
}
