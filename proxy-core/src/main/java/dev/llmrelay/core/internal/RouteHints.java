package dev.llmrelay.core.internal;

import java.time.Duration;

/**
 * Breaker openings shared with other instances: a breaker that opens here reports it, and a
 * route another instance reported open is treated as open here until then. Thread-safe.
 */
public interface RouteHints {
  /** Nothing shared. */
  RouteHints NONE = new RouteHints() {
    @Override
    public void routeOpened(String route, Duration openFor) {}

    @Override
    public Duration openElsewhere(String route) {
      return Duration.ZERO;
    }
  };

  /** This instance's breaker for {@code route} opened for {@code openFor}. */
  void routeOpened(String route, Duration openFor);

  /** How long another instance said {@code route} stays open; zero when none did. */
  Duration openElsewhere(String route);
}
