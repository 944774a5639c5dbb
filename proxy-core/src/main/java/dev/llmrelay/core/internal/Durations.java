package dev.llmrelay.core.internal;

import java.time.Duration;
import java.util.Locale;

/** Durations as log lines show them. */
final class Durations {
  private Durations() {}

  /** {@code 45s}, or {@code 0.4s} when not a whole second. */
  static String seconds(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? (ms / 1000) + "s" : String.format(Locale.ROOT, "%.1fs", ms / 1000.0);
  }
}
