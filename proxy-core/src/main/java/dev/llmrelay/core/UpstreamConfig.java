package dev.llmrelay.core;

import java.net.URI;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * One upstream the relay may send requests to: the primary ({@code UPSTREAM_BASE_URL}) or an
 * additional one ({@code UPSTREAM_<n>_BASE_URL}, {@code UPSTREAM_<n>_API_KEY}, {@code
 * UPSTREAM_<n>_WEIGHT}, {@code UPSTREAM_<n>_MODELS}). Requests for a model spread over the healthy
 * upstreams that serve it by smooth weighted round-robin. Immutable.
 *
 * @param name a short name for logs, headers ({@code X-Relay-Upstream}) and metrics: {@code
 *     primary} or {@code upstream<n>}
 * @param baseUrl the base URL; {@code /v1/x} is sent to {@code baseUrl + /x}
 * @param apiKey the key sent as {@code Authorization: Bearer}, or null. Without one, the
 *     primary passes the client's {@code Authorization} through and other upstreams send none (a
 *     client's key for one provider is never sent to another)
 * @param weight the share of requests, at least 1
 * @param models the models it serves; empty means all
 * @param streamContinuation whether it may be asked to continue a broken stream ({@code
 *     UPSTREAM_STREAM_CONTINUATION}, {@code UPSTREAM_<n>_STREAM_CONTINUATION}; default true). Turn
 *     it off for an upstream that ignores an assistant prefill.
 */
public record UpstreamConfig(
    String name, URI baseUrl, String apiKey, int weight, Set<String> models, boolean streamContinuation) {

  /**
   * Validates and freezes.
   *
   * @param name a short name for logs, headers and metrics
   * @param baseUrl the base URL
   * @param apiKey the key, or null
   * @param weight the share of requests, at least 1
   * @param models the models it serves; empty means all
   * @param streamContinuation whether it may be asked to continue a broken stream
   */
  public UpstreamConfig {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(baseUrl, "baseUrl");
    if (weight < 1) {
      throw new IllegalArgumentException("Invalid weight " + weight + " for upstream " + name + ": must be at least 1");
    }
    models = Set.copyOf(models);
    apiKey = apiKey == null || apiKey.isBlank() ? null : apiKey.trim();
  }

  /**
   * An upstream that may continue streams.
   *
   * @param name a short name for logs, headers and metrics
   * @param baseUrl the base URL
   * @param apiKey the key, or null
   * @param weight the share of requests, at least 1
   * @param models the models it serves; empty means all
   */
  public UpstreamConfig(String name, URI baseUrl, String apiKey, int weight, Set<String> models) {
    this(name, baseUrl, apiKey, weight, models, true);
  }

  /** {@return the key, if one is configured} */
  public Optional<String> key() {
    return Optional.ofNullable(apiKey);
  }

  /**
   * True when this upstream serves {@code model} (always, when no model list is set).
   *
   * @param model a model name, or null for a request that names none
   * @return whether requests for it may go here
   */
  public boolean serves(String model) {
    return models.isEmpty() || model == null || models.contains(model);
  }

  /** {@return true for the upstream of {@code UPSTREAM_BASE_URL}} */
  public boolean primary() {
    return "primary".equals(name);
  }

  /** Never shows the key. */
  @Override
  public String toString() {
    return name + "=" + RelayConfig.redactUrl(baseUrl.toString()) + (apiKey == null ? "" : " (key " + RelayConfig.mask(apiKey) + ")")
        + " weight " + weight + (models.isEmpty() ? "" : " models " + models)
        + (streamContinuation ? "" : " (no stream continuation)");
  }
}
