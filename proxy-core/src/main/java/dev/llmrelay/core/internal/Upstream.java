package dev.llmrelay.core.internal;

import dev.llmrelay.core.Endpoint;
import dev.llmrelay.core.UpstreamConfig;
import java.util.EnumMap;
import java.util.Map;
import okhttp3.HttpUrl;

/**
 * An upstream at run time: its configuration, its allowlisted endpoint URLs (built once), its
 * health probe and its smooth weighted round-robin state (guarded by the {@link Router}).
 */
final class Upstream {
  final UpstreamConfig config;
  final HttpUrl baseUrl;
  private final Map<Endpoint, HttpUrl> urls = new EnumMap<>(Endpoint.class);
  RealHealthProbe probe;
  /** Smooth weighted round-robin: the running weight; only touched under the router's lock. */
  long currentWeight;

  Upstream(UpstreamConfig config) {
    this.config = config;
    this.baseUrl = HttpUrl.get(config.baseUrl().toString());
    for (Endpoint e : Endpoint.values()) {
      urls.put(e, baseUrl.newBuilder().addPathSegments(e.upstreamPath().substring(1)).build());
    }
  }

  HttpUrl urlFor(Endpoint endpoint) {
    return urls.get(endpoint);
  }

  String name() {
    return config.name();
  }
}
