package dev.llmrelay.core.internal;

import java.time.Duration;
import java.util.Arrays;

/**
 * The learned time-to-headers limit of one route: after {@link #MIN_SAMPLES} successful attempts,
 * {@code clamp(3 x p99, 2 s, configured)} over a sliding window of the latest successes. It never
 * exceeds what the user configured, and it only applies when {@code ADAPTIVE_TIMEOUTS} is on.
 *
 * <p>Recording is one array store under a lock; the percentile is recomputed every {@link
 * #RECOMPUTE_EVERY} samples, not per request. Thread-safe.
 */
final class AdaptiveTimeout {
  static final int MIN_SAMPLES = 50;
  static final int WINDOW = 256;
  static final int RECOMPUTE_EVERY = 10;
  static final long FLOOR_MILLIS = 2000;

  private final long[] samples = new long[WINDOW];
  private long count;
  private volatile long learnedMillis = -1;

  /** Records a successful attempt's time to headers. */
  synchronized void record(Duration timeToHeaders) {
    samples[(int) (count % WINDOW)] = timeToHeaders.toMillis();
    count++;
    if (count >= MIN_SAMPLES && count % RECOMPUTE_EVERY == 0) {
      int n = (int) Math.min(count, WINDOW);
      long[] sorted = Arrays.copyOf(samples, n);
      Arrays.sort(sorted);
      long p99 = sorted[Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)];
      learnedMillis = Math.max(FLOOR_MILLIS, 3 * p99);
    }
  }

  /** The limit to use: the configured one, or the learned one when it is lower. */
  Duration limit(Duration configured) {
    long learned = learnedMillis;
    return learned < 0 || learned >= configured.toMillis() ? configured : Duration.ofMillis(learned);
  }

  /** Successful samples seen. */
  synchronized long samples() {
    return count;
  }
}
