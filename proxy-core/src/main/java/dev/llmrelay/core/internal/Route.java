package dev.llmrelay.core.internal;

import dev.llmrelay.core.RelayConfig;
import java.time.Clock;

/**
 * One route: an upstream and the model sent to it. It owns the route's circuit breaker and its
 * learned time-to-headers limit. Thread-safe.
 */
final class Route {
  final Upstream upstream;
  /** The model sent upstream, or null to send the body as it is (no model chosen). */
  final String model;
  final RouteBreaker breaker;
  final AdaptiveTimeout adaptive = new AdaptiveTimeout();

  Route(Upstream upstream, String model, RelayConfig config, Clock clock) {
    this(upstream, model, config, clock, RouteHints.NONE);
  }

  Route(Upstream upstream, String model, RelayConfig config, Clock clock, RouteHints hints) {
    this.upstream = upstream;
    this.model = model;
    this.breaker =
        new RouteBreaker(
            name(), config.breakerFailures(), config.breakerFailureRate(), config.breakerOpen(), clock, hints);
  }

  /** {@code model@upstream}, or the upstream's name alone when no model was chosen. */
  String name() {
    return model == null ? upstream.config.name() : model + "@" + upstream.config.name();
  }

  @Override
  public String toString() {
    return name();
  }
}
