package dev.llmrelay.core.internal;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether per-attempt logging is on: always with {@code DEBUG_MODE=true}, and while the debug
 * file ({@code DEBUG_MODE.txt}) exists, noticed without restart. The file is looked at no more than
 * once a second so that the request path does not pay a system call per attempt. Thread-safe.
 */
public final class DebugMode {
  private static final long RECHECK_NANOS = 1_000_000_000L;

  private final boolean always;
  private final Path file;
  private volatile boolean fileSeen;
  private volatile long checkedAt;

  /**
   * @param always debug mode from configuration
   * @param file the switch file, or null
   */
  public DebugMode(boolean always, Path file) {
    this.always = always;
    this.file = file;
    this.checkedAt = System.nanoTime() - RECHECK_NANOS;
  }

  /** True when per-attempt lines should be logged at INFO. */
  public boolean enabled() {
    if (always) {
      return true;
    }
    if (file == null) {
      return false;
    }
    long now = System.nanoTime();
    if (now - checkedAt >= RECHECK_NANOS) {
      checkedAt = now;
      fileSeen = Files.exists(file);
    }
    return fileSeen;
  }
}
