package dev.llmrelay.core.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-attempt lines of one request ({@code attempt 1/3 to upstream [timeout 45s]}, {@code
 * retrying in 1.0s after timeout}...) on the logger {@code dev.llmrelay.attempts}: at INFO while
 * debug mode is on, else at DEBUG. Callers test {@link #on()} before building costly arguments.
 * Not thread-safe: one per exchange.
 */
final class AttemptLog {
  static final Logger attemptLog = LoggerFactory.getLogger("dev.llmrelay.attempts");

  private final String requestId;
  private final DebugMode debugMode;

  AttemptLog(String requestId, DebugMode debugMode) {
    this.requestId = requestId;
    this.debugMode = debugMode;
  }

  /** True when attempt lines are wanted at all. */
  boolean on() {
    return debugMode.enabled() || attemptLog.isDebugEnabled();
  }

  void line(String format, Object... args) {
    if (debugMode.enabled()) {
      attemptLog.info("[" + requestId + "] " + format, args);
    } else if (attemptLog.isDebugEnabled()) {
      attemptLog.debug("[" + requestId + "] " + format, args);
    }
  }
}
