package dev.llmrelay.core.internal;

import java.time.Duration;
import java.util.Arrays;

/**
 * The learned time-to-headers limit of one route: after {@link #MIN_SAMPLES} successful attempts,
 * {@code clamp(3 x p99, 2 s, configured)} over a sliding window of the latest successes. It never
 * exceeds what the user configured, and it only applies when {@code ADAPTIVE_TIMEOUTS} is on.
 *
 * <p>Recording is one array store under a lock; the percentile is recomputed every {@link
 * #RECOMPUTE_EVERY} samples, not per request, in one pass over the window (no sort). Thread-safe.
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
      learnedMillis = Math.max(FLOOR_MILLIS, 3 * p99(samples, (int) Math.min(count, WINDOW)));
    }
  }

  /**
   * The nearest-rank p99 of {@code values[0..n)}: the element a sort would put at index {@code
   * ceil(0.99 n) - 1}, found in one pass as the k-th largest with {@code k = n - index} (at most 3
   * for a window of 256), without sorting or copying the window.
   */
  static long p99(long[] values, int n) {
    int index = Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1);
    int k = n - index;
    long[] top = new long[k]; // descending; top[k - 1] is the k-th largest seen so far
    Arrays.fill(top, Long.MIN_VALUE);
    for (int i = 0; i < n; i++) {
      long v = values[i];
      if (v > top[k - 1]) {
        int j = k - 1;
        while (j > 0 && top[j - 1] < v) {
          top[j] = top[j - 1];
          j--;
        }
        top[j] = v;
      }
    }
    return top[k - 1];
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
