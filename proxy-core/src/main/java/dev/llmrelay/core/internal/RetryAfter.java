package dev.llmrelay.core.internal;

import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Optional;
import okhttp3.Headers;

/**
 * Reads how long an upstream asks us to wait: {@code retry-after-ms} (milliseconds, OpenAI's
 * header) first, then {@code Retry-After} as delta-seconds (decimals tolerated) or an HTTP date.
 * Stateless.
 */
public final class RetryAfter {
  private RetryAfter() {}

  /** The requested delay, if the headers carry a valid one (a past date counts as zero). */
  public static Optional<Duration> parse(Headers headers, Clock clock) {
    String ms = headers.get("retry-after-ms");
    if (ms != null) {
      try {
        double v = Double.parseDouble(ms.trim());
        if (v >= 0 && !Double.isNaN(v) && !Double.isInfinite(v)) {
          return Optional.of(Duration.ofNanos((long) Math.ceil(v * 1_000_000)));
        }
      } catch (NumberFormatException ignored) {
        // fall through to Retry-After
      }
    }
    String value = headers.get("Retry-After");
    if (value == null || value.isBlank()) {
      return Optional.empty();
    }
    value = value.trim();
    try {
      double seconds = Double.parseDouble(value);
      if (seconds >= 0 && !Double.isNaN(seconds) && !Double.isInfinite(seconds)) {
        return Optional.of(Duration.ofMillis((long) Math.ceil(seconds * 1000)));
      }
      return Optional.empty();
    } catch (NumberFormatException notSeconds) {
      try {
        ZonedDateTime at = ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME);
        Duration d = Duration.between(clock.instant(), at.toInstant());
        return Optional.of(d.isNegative() ? Duration.ZERO : d);
      } catch (DateTimeParseException notDate) {
        return Optional.empty();
      }
    }
  }
}
