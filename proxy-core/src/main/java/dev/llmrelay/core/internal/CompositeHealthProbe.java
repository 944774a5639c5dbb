package dev.llmrelay.core.internal;

import dev.llmrelay.core.HealthReport;
import dev.llmrelay.core.RouteStatus;
import dev.llmrelay.core.UpstreamHealth;
import dev.llmrelay.core.UpstreamHealthProbe;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * The client's {@link UpstreamHealthProbe}: one {@link RealHealthProbe} per upstream, probed in
 * parallel. The single report is the first reachable upstream's, else the primary's. Thread-safe.
 */
final class CompositeHealthProbe implements UpstreamHealthProbe {
  private final List<Upstream> upstreams;
  private final Function<String, List<RouteStatus>> routesOf;

  CompositeHealthProbe(List<Upstream> upstreams, Function<String, List<RouteStatus>> routesOf) {
    this.upstreams = upstreams;
    this.routesOf = routesOf;
  }

  @Override
  public CompletionStage<HealthReport> check() {
    if (upstreams.size() == 1) {
      return upstreams.get(0).probe.check();
    }
    return checkEach().thenApply(all -> combine(all.stream().map(UpstreamHealth::report).toList()));
  }

  @Override
  public Optional<HealthReport> lastReport() {
    List<HealthReport> reports = new ArrayList<>();
    for (Upstream u : upstreams) {
      Optional<HealthReport> r = u.probe.lastReport();
      if (r.isEmpty()) {
        return upstreams.size() == 1 ? Optional.empty() : firstHealthy(reports);
      }
      reports.add(r.get());
    }
    return Optional.of(combine(reports));
  }

  private static Optional<HealthReport> firstHealthy(List<HealthReport> reports) {
    return reports.stream().filter(HealthReport::healthy).findFirst();
  }

  @Override
  public CompletionStage<List<UpstreamHealth>> checkEach() {
    List<CompletableFuture<UpstreamHealth>> each = new ArrayList<>();
    for (Upstream u : upstreams) {
      each.add(u.probe.check().toCompletableFuture().thenApply(r ->
          new UpstreamHealth(u.name(), u.baseUrl.toString(), r, routesOf.apply(u.name()))));
    }
    return CompletableFuture.allOf(each.toArray(new CompletableFuture<?>[0]))
        .thenApply(v -> each.stream().map(CompletableFuture::join).toList());
  }

  private static HealthReport combine(List<HealthReport> reports) {
    return firstHealthy(reports).orElse(reports.get(0));
  }
}
