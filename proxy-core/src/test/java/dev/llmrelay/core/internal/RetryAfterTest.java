package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import okhttp3.Headers;
import org.junit.jupiter.api.Test;

class RetryAfterTest {
  private final Clock clock = Clock.fixed(Instant.parse("2026-11-26T10:00:00Z"), ZoneOffset.UTC);

  @Test
  void deltaSecondsAreRead() {
    assertThat(RetryAfter.parse(Headers.of("Retry-After", "7"), clock)).contains(Duration.ofSeconds(7));
    assertThat(RetryAfter.parse(Headers.of("Retry-After", "1.5"), clock)).contains(Duration.ofMillis(1500));
  }

  @Test
  void anHttpDateIsReadRelativeToNowAndAPastDateIsZero() {
    assertThat(RetryAfter.parse(Headers.of("Retry-After", "Thu, 26 Nov 2026 10:00:12 GMT"), clock))
        .contains(Duration.ofSeconds(12));
    assertThat(RetryAfter.parse(Headers.of("Retry-After", "Thu, 26 Nov 2026 09:00:00 GMT"), clock))
        .contains(Duration.ZERO);
  }

  @Test
  void retryAfterMsWinsOverRetryAfter() {
    assertThat(RetryAfter.parse(Headers.of("retry-after-ms", "250", "Retry-After", "9"), clock))
        .contains(Duration.ofMillis(250));
  }

  @Test
  void garbageAndNegativeValuesAreIgnored() {
    assertThat(RetryAfter.parse(Headers.of("Retry-After", "soon"), clock)).isEmpty();
    assertThat(RetryAfter.parse(Headers.of("Retry-After", "-3"), clock)).isEmpty();
    assertThat(RetryAfter.parse(Headers.of("retry-after-ms", "x", "Retry-After", "2"), clock)).contains(Duration.ofSeconds(2));
    assertThat(RetryAfter.parse(Headers.of(), clock)).isEmpty();
  }
}
