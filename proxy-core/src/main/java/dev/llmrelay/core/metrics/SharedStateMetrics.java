package dev.llmrelay.core.metrics;

import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.shared.SharedStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Objects;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters of the limits a client shares with other instances (nothing is registered
 * when it shares none):
 *
 * <ul>
 *   <li>{@code llmrelay_shared_permits_held}: global permits this instance holds;
 *   <li>{@code llmrelay_shared_permits_limit}: {@code SHARED_MAX_CONCURRENT_REQUESTS};
 *   <li>{@code llmrelay_shared_state_up}: 1 when the engine answered the last call, else 0;
 *   <li>{@code llmrelay_shared_state_errors_total}: engine calls that failed or timed out;
 *   <li>{@code llmrelay_shared_leases_lost_total}: permits that lapsed while their request ran.
 * </ul>
 *
 * Bind it once: {@code new SharedStateMetrics(client).bindTo(registry)}. Thread-safe.
 */
public final class SharedStateMetrics implements MeterBinder {
  private final UpstreamClient client;

  /**
   * Meters for {@code client}'s shared limits.
   *
   * @param client the client
   */
  public SharedStateMetrics(UpstreamClient client) {
    this.client = Objects.requireNonNull(client, "client");
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    if (client.sharedStats().isEmpty()) {
      return;
    }
    gauge(registry, "llmrelay.shared.permits.held", "Global permits this instance holds", SharedStats::permitsHeld);
    gauge(registry, "llmrelay.shared.permits.limit", "SHARED_MAX_CONCURRENT_REQUESTS", SharedStats::limit);
    gauge(registry, "llmrelay.shared.state.up", "1 when the shared-state engine answered the last call",
        s -> s.up() ? 1 : 0);
    FunctionCounter.builder("llmrelay.shared.state.errors", client, c -> stat(c, SharedStats::errors))
        .description("Shared-state engine calls that failed or timed out")
        .register(registry);
    FunctionCounter.builder("llmrelay.shared.leases.lost", client, c -> stat(c, SharedStats::leasesLost))
        .description("Global permits that lapsed while their request ran")
        .register(registry);
  }

  private void gauge(MeterRegistry registry, String name, String description, ToDoubleFunction<SharedStats> f) {
    Gauge.builder(name, client, c -> stat(c, f)).description(description).register(registry);
  }

  private static double stat(UpstreamClient c, ToDoubleFunction<SharedStats> f) {
    return c.sharedStats().map(f::applyAsDouble).orElse(0.0);
  }
}
