package dev.llmrelay.core;

import java.util.List;

/**
 * One upstream's health: its last probe and the state of its routes. Never contains a key.
 * Immutable.
 *
 * @param name the upstream's name ({@code primary}, {@code upstream2}, ...)
 * @param baseUrl its base URL
 * @param report its probe result
 * @param routes its known routes
 */
public record UpstreamHealth(String name, String baseUrl, HealthReport report, List<RouteStatus> routes) {
  /**
   * Freezes the list.
   *
   * @param name the upstream's name
   * @param baseUrl its base URL
   * @param report its probe result
   * @param routes its known routes
   */
  public UpstreamHealth {
    routes = List.copyOf(routes);
  }
}
