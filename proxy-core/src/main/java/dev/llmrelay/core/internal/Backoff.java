package dev.llmrelay.core.internal;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Delay before a retry: exponential from the initial backoff, doubling to the cap, with jitter
 * added only upwards (Failsafe's own jitter is symmetric and could retry before a Retry-After).
 * An upstream-requested delay is honoured exactly as a floor. Immutable and thread-safe.
 */
public final class Backoff {
  /** Jitter adds up to this share of the delay, so callers never retry in lock-step. */
  static final double JITTER = 0.2;

  private final Duration initial;
  private final Duration max;

  /**
   * @param initial delay before the first retry
   * @param max cap of the exponential part
   */
  public Backoff(Duration initial, Duration max) {
    this.initial = initial;
    this.max = max;
  }

  /**
   * The delay before retry number {@code retry} (1 = first retry).
   *
   * @param retry which retry is next, from 1
   * @param requested an upstream Retry-After, or null
   */
  public Duration delay(int retry, Duration requested) {
    long base = initial.toMillis();
    for (int i = 1; i < retry && base < max.toMillis(); i++) {
      base *= 2;
    }
    base = Math.min(base, max.toMillis());
    if (requested != null) {
      // Never earlier than asked; a little upward spread so that many clients told the same
      // Retry-After do not all come back in the same millisecond.
      long asked = requested.toMillis();
      return Duration.ofMillis(asked + jitter(Math.min(asked, 1000)));
    }
    return Duration.ofMillis(base + jitter(base));
  }

  private static long jitter(long of) {
    long spread = (long) (of * JITTER);
    return spread <= 0 ? 0 : ThreadLocalRandom.current().nextLong(spread + 1);
  }
}
