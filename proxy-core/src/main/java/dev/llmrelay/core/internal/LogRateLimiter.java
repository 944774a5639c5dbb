package dev.llmrelay.core.internal;

import java.time.Duration;

/**
 * Lets at most {@code burst} log records through per {@code period}, and says how many were held
 * back since the last one let through, so that a line nobody needs to authenticate to cause (a
 * refused key) cannot flood the log. Thread-safe.
 */
final class LogRateLimiter {
  private final int burst;
  private final long periodNanos;
  private long windowStart = System.nanoTime();
  private int used;
  private long suppressed;

  LogRateLimiter(int burst, Duration period) {
    this.burst = burst;
    this.periodNanos = period.toNanos();
  }

  /**
   * Asks to log one record: -1 when it must be dropped, else how many were dropped before it
   * (0 most of the time).
   */
  synchronized long tryAcquire() {
    long now = System.nanoTime();
    if (now - windowStart >= periodNanos) {
      windowStart = now;
      used = 0;
    }
    if (used >= burst) {
      suppressed++;
      return -1;
    }
    used++;
    long held = suppressed;
    suppressed = 0;
    return held;
  }
}
