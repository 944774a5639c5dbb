package dev.llmrelay.core;

import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * Measures the upstream without spending tokens ({@code GET {base}/models} by default; with
 * OpenRouter and a key, {@code GET {base}/key}, which also validates the key). Concurrent callers
 * share one probe (single flight) and a result is reused for {@code HEALTH_CACHE_MILLIS}. The
 * probe never takes a chat permit. With several upstreams, {@link #check()} reports the first
 * reachable one (in configuration order), or the primary's failure when none is. Thread-safe.
 */
public interface UpstreamHealthProbe {
  /**
   * The latest report, probing the upstream unless a fresh one is cached or a probe is running.
   *
   * @return the report, when the probe (or the one it joined) has finished; never completes
   *     exceptionally
   */
  CompletionStage<HealthReport> check();

  /**
   * The last report finished, if any, without probing.
   *
   * @return the last report, or empty before the first probe finished
   */
  Optional<HealthReport> lastReport();

  /**
   * Probes every upstream (each single flight and cached like {@link #check()}) and reports each
   * with the state of its routes. With one upstream this is a list of one.
   *
   * @return one entry per upstream, in configuration order
   */
  CompletionStage<java.util.List<UpstreamHealth>> checkEach();
}
