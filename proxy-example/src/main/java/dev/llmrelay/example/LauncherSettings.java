package dev.llmrelay.example;

import dev.llmrelay.servlet.RelayVariables;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The launcher's own settings, beside the core's {@code RelayConfig} and read from the same
 * variables: where it listens ({@code RELAY_HOST}, {@code RELAY_PORT}), which keys clients must
 * present ({@code RELAY_API_KEYS}) and how long shutdown waits ({@code SHUTDOWN_TIMEOUT_SECONDS}).
 * An invalid value fails start-up with a message that names the variable. Immutable.
 *
 * @param host the address to bind (default loopback)
 * @param port the port to bind (0 = any free port)
 * @param proxyKeys the keys clients must present as Bearer tokens; empty = no check
 * @param shutdownTimeout how long in-flight requests may finish on SIGTERM
 */
record LauncherSettings(String host, int port, List<String> proxyKeys, Duration shutdownTimeout) {
  /** Default {@code RELAY_HOST}: loopback only. */
  static final String DEFAULT_HOST = "127.0.0.1";
  /** Default {@code RELAY_PORT}. */
  static final int DEFAULT_PORT = 5000;
  /** Default {@code SHUTDOWN_TIMEOUT_SECONDS}. */
  static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(30);

  LauncherSettings {
    proxyKeys = List.copyOf(proxyKeys);
  }

  /** Reads the settings from the variables ({@link RelayVariables#fromEnvironment}). */
  static LauncherSettings fromVariables(Map<String, String> vars) {
    String host = vars.get("RELAY_HOST");
    host = host == null || host.isBlank() ? DEFAULT_HOST : host.trim();
    return new LauncherSettings(host, port(vars.get("RELAY_PORT")), RelayVariables.proxyKeys(vars),
        shutdownTimeout(vars.get("SHUTDOWN_TIMEOUT_SECONDS")));
  }

  private static int port(String v) {
    if (v == null || v.isBlank()) {
      return DEFAULT_PORT;
    }
    try {
      int port = Integer.parseInt(v.trim());
      if (port >= 0 && port <= 65535) {
        return port;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("Invalid RELAY_PORT=" + v + ": must be 0..65535");
  }

  private static Duration shutdownTimeout(String v) {
    if (v == null || v.isBlank()) {
      return DEFAULT_SHUTDOWN_TIMEOUT;
    }
    try {
      double seconds = Double.parseDouble(v.trim());
      if (seconds < 0 || Double.isNaN(seconds) || Double.isInfinite(seconds)) {
        throw new NumberFormatException();
      }
      return Duration.ofMillis((long) (seconds * 1000));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("Invalid SHUTDOWN_TIMEOUT_SECONDS=" + v + ": must be zero or more seconds");
    }
  }

  /** For the start-up line: never a key, only how many. */
  @Override
  public String toString() {
    return "listen=" + host + ":" + port + ", proxyKeys=" + proxyKeys.size() + ", shutdownTimeout=" + shutdownTimeout.toMillis() / 1000.0 + "s";
  }
}
