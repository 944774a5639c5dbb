package dev.llmrelay.core.internal;

import dev.llmrelay.core.RelayConfig;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a request's model chain into the ordered list of routes to try. For each model in the
 * chain: the upstreams that serve it, the first picked by smooth weighted round-robin among those
 * whose breaker would let a request through (nginx's algorithm, so 3:1 weights give exactly 3:1),
 * then the others by weight. Routes keep their breaker and learned timeout across requests; their
 * number is bounded (least recently used routes are forgotten) because models come from requests.
 *
 * <p>Thread-safe.
 */
final class Router {
  static final int MAX_ROUTES = 1024;

  private final List<Upstream> upstreams;
  private final RelayConfig config;
  private final Clock clock;
  private final Map<String, Route> routes =
      new LinkedHashMap<>(64, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Route> eldest) {
          return size() > MAX_ROUTES;
        }
      };

  private final RouteHints hints;

  Router(List<Upstream> upstreams, RelayConfig config, Clock clock) {
    this(upstreams, config, clock, RouteHints.NONE);
  }

  Router(List<Upstream> upstreams, RelayConfig config, Clock clock, RouteHints hints) {
    this.hints = hints;
    this.upstreams = List.copyOf(upstreams);
    this.config = config;
    this.clock = clock;
  }

  List<Upstream> upstreams() {
    return upstreams;
  }

  /** True when routing can change anything: several upstreams, model lists or fallbacks. */
  boolean routingActive() {
    return upstreams.size() > 1 || !config.modelFallbacks().isEmpty() || !upstreams.get(0).config.models().isEmpty();
  }

  /**
   * The model chain of a request: its {@code models} array if it sent one, else its model
   * followed by the configured fallbacks. A null model (none in the request) is a chain of one.
   */
  List<String> modelChain(String model, List<String> requestModels) {
    Set<String> chain = new LinkedHashSet<>();
    if (requestModels != null && !requestModels.isEmpty()) {
      chain.addAll(requestModels);
    } else {
      chain.add(model);
      if (model != null) {
        chain.addAll(config.modelFallbacks().getOrDefault(model, List.of()));
      }
    }
    return new ArrayList<>(chain);
  }

  /** The routes for a chain, in the order to try them. */
  synchronized List<Route> routesFor(List<String> chain) {
    List<Route> plan = new ArrayList<>();
    for (String model : chain) {
      List<Upstream> serving = new ArrayList<>();
      for (Upstream u : upstreams) {
        if (u.config.serves(model)) {
          serving.add(u);
        }
      }
      if (serving.isEmpty()) {
        continue;
      }
      List<Upstream> allowed = new ArrayList<>();
      for (Upstream u : serving) {
        if (route(u, model).breaker.wouldAllow()) {
          allowed.add(u);
        }
      }
      Upstream first = pick(allowed.isEmpty() ? serving : allowed);
      plan.add(route(first, model));
      serving.remove(first);
      serving.sort(Comparator.comparingInt((Upstream u) -> u.config.weight()).reversed());
      for (Upstream u : serving) {
        plan.add(route(u, model));
      }
    }
    return plan;
  }

  /** Smooth weighted round-robin over {@code candidates}. */
  private Upstream pick(List<Upstream> candidates) {
    if (candidates.size() == 1) {
      return candidates.get(0);
    }
    long total = 0;
    Upstream best = null;
    for (Upstream u : candidates) {
      u.currentWeight += u.config.weight();
      total += u.config.weight();
      if (best == null || u.currentWeight > best.currentWeight) {
        best = u;
      }
    }
    best.currentWeight -= total;
    return best;
  }

  private Route route(Upstream upstream, String model) {
    String key = upstream.name() + '\u0000' + model;
    Route r = routes.get(key);
    if (r == null) {
      r = new Route(upstream, model, config, clock, hints);
      routes.put(key, r);
    }
    return r;
  }

  /** A snapshot of the known routes, most recently used last. */
  synchronized List<Route> knownRoutes() {
    return new ArrayList<>(routes.values());
  }
}
