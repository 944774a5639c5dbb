package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class AdaptiveTimeoutTest {
  /** The definition the one-pass p99 must match: sort, take index ceil(0.99 n) - 1. */
  private static long sortedP99(long[] values, int n) {
    long[] sorted = Arrays.copyOf(values, n);
    Arrays.sort(sorted);
    return sorted[Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)];
  }

  @Test
  void onePassP99MatchesTheSortedDefinitionForEveryWindowSize() {
    SplittableRandom random = new SplittableRandom(7);
    for (int n = 1; n <= AdaptiveTimeout.WINDOW; n++) {
      for (int trial = 0; trial < 20; trial++) {
        long[] values = new long[AdaptiveTimeout.WINDOW];
        for (int i = 0; i < n; i++) {
          // many ties and a long tail, like real times to headers
          values[i] = random.nextInt(10) < 8 ? random.nextLong(50, 60) : random.nextLong(0, 30_000);
        }
        assertThat(AdaptiveTimeout.p99(values, n)).as("n=%d trial=%d", n, trial).isEqualTo(sortedP99(values, n));
      }
    }
  }

  @Test
  void learnsThreeTimesP99WithinTheFloorAndTheConfiguredLimit() {
    AdaptiveTimeout adaptive = new AdaptiveTimeout();
    Duration configured = Duration.ofSeconds(45);
    for (int i = 0; i < AdaptiveTimeout.MIN_SAMPLES - 1; i++) {
      adaptive.record(Duration.ofMillis(900));
    }
    assertThat(adaptive.limit(configured)).as("too few samples: the configured limit").isEqualTo(configured);
    adaptive.record(Duration.ofMillis(900));
    assertThat(adaptive.limit(configured)).isEqualTo(Duration.ofMillis(2700));
    for (int i = 0; i < AdaptiveTimeout.WINDOW + AdaptiveTimeout.RECOMPUTE_EVERY; i++) {
      adaptive.record(Duration.ofMillis(100));
    }
    assertThat(adaptive.limit(configured)).as("the 2 s floor").isEqualTo(Duration.ofMillis(AdaptiveTimeout.FLOOR_MILLIS));
    for (int i = 0; i < AdaptiveTimeout.WINDOW + AdaptiveTimeout.RECOMPUTE_EVERY; i++) {
      adaptive.record(Duration.ofSeconds(20));
    }
    assertThat(adaptive.limit(configured)).as("never above the configured limit").isEqualTo(configured);
  }
}
