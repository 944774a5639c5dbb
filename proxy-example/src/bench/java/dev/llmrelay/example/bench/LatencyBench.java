package dev.llmrelay.example.bench;

import dev.llmrelay.example.bench.BenchRun.Kind;
import dev.llmrelay.example.bench.BenchRun.Target;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.ToDoubleFunction;

/**
 * Added latency at a fixed rate (default 200 req/s) with a 50 ms upstream: the {@link OpenLoop}
 * generator (latency from each request's due time, so coordinated omission is corrected) against
 * direct, the nginx hop and each proxy variant, in alternating rounds. nginx cannot simply wait
 * 50 ms before answering (no {@code echo_sleep} without extra modules), so every target here uses
 * the in-process {@link FastUpstream} with a scheduled 50 ms delay. Issue targets: p50 at most
 * 0.5 ms and p99 at most 2 ms above direct.
 */
final class LatencyBench {
  private LatencyBench() {}

  private record Measure(Target target, int round, OpenLoop.Result result, long cpuNanos, double noise) {
    double pct(double p) {
      return result.latency().percentileMillis(p);
    }

    double cpuMicrosPerRequest() {
      return result.sent() == 0 ? Double.NaN : cpuNanos / 1000.0 / result.sent();
    }
  }

  static void run(BenchRun run) {
    BenchOptions o = run.options;
    FastUpstream upstream = run.own(FastUpstream.json(Duration.ofMillis(o.delayMs)));
    String upstreamRoot = "http://" + Children.HOST + ":" + upstream.port();
    List<Target> targets = new ArrayList<>();
    targets.add(new Target("direct", Kind.DIRECT, upstreamRoot, List::of));
    List<String> setup = new ArrayList<>();
    setup.add("upstream: " + upstream.description() + " at " + upstreamRoot
        + " (used for all targets: nginx cannot sleep without extra modules)");
    run.addNginxAndProxies(targets, setup, upstream.port(), true);
    Duration round = o.roundOr(20);
    setup.add("load:     open loop (java.net.http, HTTP/1.1 keep-alive) at " + Table.fmt(o.rate, 0)
        + " req/s, latency from the scheduled send time; warm-up " + o.warmup.toSeconds()
        + " s per proxy JVM (a third at " + Table.fmt(o.rate, 0) + " req/s, the rest at " + Table.fmt(Math.max(1000, 5 * o.rate), 0)
        + " req/s; min(" + o.warmup.toSeconds() + ", 5) s at " + Table.fmt(o.rate, 0) + " req/s for nginx/direct); "
        + o.rounds + " rounds of " + round.toSeconds() + " s, targets rotated each round");
    run.printSetup("latency", setup);

    byte[] body = Wrk.BODY.getBytes(StandardCharsets.UTF_8);
    ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "bench-http-client");
      t.setDaemon(true);
      return t;
    });
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor)
        .connectTimeout(Duration.ofSeconds(5)).build();
    List<Measure> measures = new ArrayList<>();
    try {
      for (Target target : targets) {
        Duration warm = target.kind() == Kind.LLMRELAY ? o.warmup : ThroughputBench.min(o.warmup, Duration.ofSeconds(5));
        if (warm.isZero()) {
          continue;
        }
        if (target.kind() != Kind.LLMRELAY) {
          run.progress("warm-up %s: %d s at %.0f req/s", target.name(), warm.toSeconds(), o.rate);
          OpenLoop.run(client, uri(target), body, o.rate, warm);
          continue;
        }
        // A cold JVM hit at once by an open loop of 1000 req/s falls behind while it is still
        // interpreting, and the backlog (threads, connections) can sink a small heap for good.
        // So: the first third at the measured rate, the rest at 5x (at least 1000 req/s).
        Duration gentle = warm.dividedBy(3);
        double fast = Math.max(1000, 5 * o.rate);
        run.progress("warm-up %s: %d s at %.0f req/s, then %d s at %.0f req/s", target.name(), gentle.toSeconds(),
            o.rate, warm.minus(gentle).toSeconds(), fast);
        OpenLoop.Result first = OpenLoop.run(client, uri(target), body, o.rate, gentle);
        OpenLoop.Result second = OpenLoop.run(client, uri(target), body, fast, warm.minus(gentle));
        if (first.failed() + second.failed() > 0) {
          run.keepForDiagnosis();
          run.progress("warm-up %s: %d of %d requests FAILED %s%s", target.name(), first.failed() + second.failed(),
              first.sent() + second.sent(), second.failures().isEmpty() ? first.failures() : second.failures(),
              target.proxy() != null ? ", proxy log: " + target.proxy().outcomesSinceLastCall() : "");
        }
      }
      for (int r = 0; r < o.rounds; r++) {
        for (Target target : BenchRun.rotate(targets, r)) {
          MachineLoad.awaitQuiet(run, o.maxNoise, o.quietTimeout);
          MachineLoad.Snapshot quiet = MachineLoad.now();
          if (target.proxy() != null) {
            target.proxy().outcomesSinceLastCall();
          }
          ProcStats.Sample before = ProcStats.sample(target.pids().get());
          OpenLoop.Result result = OpenLoop.run(client, uri(target), body, o.rate, round);
          ProcStats.Sample after = ProcStats.sample(target.pids().get());
          Measure m = new Measure(target, r, result, after.cpuNanos() - before.cpuNanos(),
              MachineLoad.otherCores(quiet, MachineLoad.now()));
          measures.add(m);
          if (result.failed() > 0) {
            run.keepForDiagnosis();
          }
          run.progress("round %d/%d %-20s p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms  failed %d  send lag max %.2f ms"
                  + "  noise %.2f cores%s",
              r + 1, o.rounds, target.name(), m.pct(50), m.pct(99), m.pct(99.9), m.pct(100),
              result.failed(), result.maxSendLagMs(), m.noise(),
              result.failures().isEmpty() ? "" : "  FAILURES " + result.failures()
                  + (target.proxy() != null ? ", proxy log: " + target.proxy().outcomesSinceLastCall() : ""));
          Children.sleep(Duration.ofMillis(500));
        }
      }
    } finally {
      executor.shutdownNow();
    }
    report(run, targets, measures, round);
  }

  private static URI uri(Target target) {
    return URI.create(target.url() + Wrk.PATH);
  }

  private static void report(BenchRun run, List<Target> targets, List<Measure> measures, Duration round) {
    BenchOptions o = run.options;
    double directP50 = median(measures, "direct", m -> m.pct(50));
    double directP99 = median(measures, "direct", m -> m.pct(99));
    Table table = new Table("target", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "p50 vs direct",
        "p99 vs direct", "issue target", "verdict", "p99 per round", "CPU us/req", "failed", "send lag ms", "noise");
    for (Target target : targets) {
      String name = target.name();
      double p50 = median(measures, name, m -> m.pct(50));
      double p99 = median(measures, name, m -> m.pct(99));
      String goal = "";
      String verdict = "";
      if (target.kind() == Kind.LLMRELAY) {
        goal = "p50 +0.5, p99 +2";
        verdict = Table.verdict(p50 - directP50 <= 0.5 && p99 - directP99 <= 2.0);
      }
      List<Measure> mine = measures.stream().filter(m -> m.target().name().equals(name)).toList();
      table.row(name, Table.fmt(p50, 2), Table.fmt(median(measures, name, m -> m.pct(90)), 2), Table.fmt(p99, 2),
          Table.fmt(median(measures, name, m -> m.pct(99.9)), 2), Table.fmt(median(measures, name, m -> m.pct(100)), 2),
          target.kind() == Kind.DIRECT ? "" : Table.signed(p50 - directP50, 2),
          target.kind() == Kind.DIRECT ? "" : Table.signed(p99 - directP99, 2),
          goal, verdict,
          String.join(" ", mine.stream().map(m -> Table.fmt(m.pct(99), 1)).toList()),
          target.measured() ? Table.fmt(median(measures, name, Measure::cpuMicrosPerRequest), 1) : "-",
          mine.stream().mapToLong(m -> m.result().failed()).sum(),
          Table.fmt(mine.stream().mapToDouble(m -> m.result().maxSendLagMs()).max().orElse(Double.NaN), 2),
          Table.fmt(mine.stream().mapToDouble(Measure::noise).max().orElse(Double.NaN), 2));
    }
    run.out.println();
    run.out.println("LATENCY at " + Table.fmt(o.rate, 0) + " req/s, upstream " + o.delayMs + " ms, medians of "
        + o.rounds + " rounds of " + round.toSeconds() + " s (" + (long) (o.rate * round.toSeconds())
        + " requests each), open loop, latency from the scheduled send time");
    run.out.print(table.render());
    run.out.println("send lag: the latest the generator sent a request after its due time (already included in the"
        + " latencies). CPU us/req: the hop's utime+stime per request at this rate. noise: most cores used outside the"
        + " benchmark during a round.");
    run.out.flush();
  }

  private static double median(List<Measure> measures, String name, ToDoubleFunction<Measure> metric) {
    return Samples.median(measures.stream().filter(m -> m.target().name().equals(name))
        .map(m -> metric.applyAsDouble(m)).toList());
  }
}
