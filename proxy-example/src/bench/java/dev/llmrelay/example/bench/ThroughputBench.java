package dev.llmrelay.example.bench;

import dev.llmrelay.example.bench.BenchRun.Kind;
import dev.llmrelay.example.bench.BenchRun.Target;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Throughput of a non-streaming {@code POST /v1/chat/completions} against an upstream that
 * answers at once: wrk ({@code -t2 -cN --latency}, closed loop) against direct, the nginx hop, the
 * bare Java pass-through and each proxy variant, in rounds that alternate the targets. Reports the
 * median requests/s, the ratio to nginx (issue targets for llmrelay: 0.6x at 16 connections, 0.5x
 * at 64), wrk's p50/p99 (closed-loop, for information), the CPU time per request of the hop (utime
 * + stime of its processes over the round divided by the requests wrk completed) and the peak
 * resident memory under load.
 *
 * <p>The {@code bare jetty+okhttp} target ({@link BarePassThrough} in its own JVM, {@link
 * BareProcess}; {@code --no-bare} skips it) is a minimal Jetty 12 + OkHttp pass-through: a blocking
 * servlet that forwards the body with one shared OkHttp client and copies status, Content-Type and
 * body back, nothing more. It runs on the proxy's JDK ({@code --java}) with the first variant's JVM
 * flags and gets the proxy's warm-up, so it is the floor of the Java stack: the gap from nginx to
 * bare is Jetty + OkHttp + the JVM, the gap from bare to llmrelay is llmrelay's resilience layer.
 * It has a ratio to nginx but no issue target or verdict.
 *
 * <p>The load generator, the upstream and the hop share the machine's cores, as they do for every
 * target; ratios measured in the same run are comparable, absolute numbers less so.
 */
final class ThroughputBench {
  /** The bare pass-through's name in the progress lines and the table. */
  static final String BARE_NAME = "bare jetty+okhttp";

  private ThroughputBench() {}

  private record Measure(Target target, int connections, int round, Wrk.Result wrk, long cpuNanos, long sysNanos,
      ProcStats.Sample peak, double noise) {
    double cpuMicrosPerRequest() {
      return wrk.requests() == 0 ? Double.NaN : cpuNanos / 1000.0 / wrk.requests();
    }

    double sysMicrosPerRequest() {
      return wrk.requests() == 0 ? Double.NaN : sysNanos / 1000.0 / wrk.requests();
    }
  }

  static void run(BenchRun run) {
    BenchOptions o = run.options;
    if (run.wrk == null) {
      throw new IllegalStateException("the throughput mode needs wrk: apt-get install wrk");
    }
    if (o.upstream.equals("nginx") && run.nginx == null) {
      throw new IllegalStateException("--upstream nginx, but nginx is not installed");
    }
    Path script = Wrk.writeScript(run.dir);
    boolean nginxUpstream = run.nginx != null && !o.upstream.equals("inprocess");
    int upstreamPort;
    String upstreamDescription;
    Supplier<List<Long>> upstreamPids;
    if (nginxUpstream) {
      NginxServer upstream = run.own(NginxServer.upstream(run.nginx, run.dir));
      upstreamPort = upstream.port();
      upstreamDescription = upstream.description();
      upstreamPids = upstream::pids;
    } else {
      FastUpstream upstream = run.own(FastUpstream.json(Duration.ZERO));
      upstreamPort = upstream.port();
      upstreamDescription = upstream.description() + (run.nginx == null ? " (nginx not installed)" : "");
      upstreamPids = () -> List.of(ProcessHandle.current().pid());
    }
    String upstreamRoot = "http://" + Children.HOST + ":" + upstreamPort;
    List<Target> targets = new ArrayList<>();
    targets.add(new Target("direct", Kind.DIRECT, upstreamRoot, upstreamPids));
    List<String> setup = new ArrayList<>();
    setup.add("upstream: " + upstreamDescription + " at " + upstreamRoot);
    if (run.nginx != null) {
      NginxServer proxy = run.own(NginxServer.proxy(run.nginx, run.dir, upstreamPort, true, o.nginxWorkers));
      targets.add(new Target("nginx", Kind.NGINX, proxy.url(), proxy::pids));
      setup.add("nginx:    " + proxy.description());
    } else {
      setup.add("nginx:    SKIPPED, nginx is not installed: no ratio to nginx can be computed");
    }
    ProxyProcess firstProxy = null;
    int bareIndex = targets.size(); // the table lists bare before the proxies, though it starts after them
    for (ProxyProcess.Variant variant : o.variants) {
      run.progress("starting proxy %s: %s", variant.label(), variant.flagsText());
      ProxyProcess proxy = run.own(new ProxyProcess(o.java, variant, run.dir, upstreamRoot + "/v1", o.proxyEnv));
      targets.add(new Target(variant.label(), Kind.LLMRELAY, proxy.url(), proxy::pids, proxy));
      firstProxy = firstProxy == null ? proxy : firstProxy;
      setup.add("proxy:    " + variant.label() + " pid " + proxy.pid() + ", JVM flags " + variant.flagsText()
          + (o.proxyEnv.isEmpty() ? "" : ", env " + o.proxyEnv)
          + (variant.script() ? "; the JVM runs with " + String.join(" ", proxy.jvmFlagsAsStarted()) : ""));
    }
    if (o.noBare) {
      setup.add("bare:     SKIPPED (--no-bare)");
    } else {
      // The first proxy's flags as its JVM got them (a script variant's come from the script).
      ProxyProcess.Variant first = o.variants.get(0);
      List<String> firstFlags = firstProxy.jvmFlagsAsStarted();
      run.progress("starting bare jetty+okhttp: %s", String.join(" ", firstFlags));
      BareProcess bare = run.own(new BareProcess(first.javaOr(o.java), firstFlags, run.dir, upstreamRoot));
      targets.add(bareIndex, new Target(BARE_NAME, Kind.BARE, bare.url(), bare::pids));
      setup.add("bare:     " + BARE_NAME + " (BarePassThrough: blocking servlet + one shared OkHttpClient, nothing"
          + " else) pid " + bare.pid() + ", JVM flags " + bare.flagsText() + " on " + first.javaOr(o.java)
          + " (those of " + first.label() + ")");
    }
    setup.add("proxy env: " + new java.util.TreeMap<>(ProxyProcess.BENCH_ENV) + " unless a variant says otherwise");
    Duration round = o.roundOr(10);
    int maxConnections = o.connections.stream().max(Integer::compare).orElse(64);
    setup.add("load:     wrk -t" + o.wrkThreads + " -c" + o.connections.stream().map(String::valueOf)
        .collect(Collectors.joining("/-c")) + " -d" + round.toSeconds() + "s --latency, POST " + Wrk.PATH
        + "; warm-up " + o.warmup.toSeconds() + " s per JVM target (proxy, bare) (min(" + o.warmup.toSeconds()
        + ", 5) s for nginx/direct) at -c" + maxConnections + "; " + o.rounds + " rounds, targets rotated each round");
    run.printSetup("throughput", setup);

    for (Target target : targets) {
      Duration warm = target.kind() == Kind.LLMRELAY || target.kind() == Kind.BARE
          ? o.warmup : min(o.warmup, Duration.ofSeconds(5));
      if (!warm.isZero()) {
        run.progress("warm-up %s: %d s at -c%d", target.name(), warm.toSeconds(), maxConnections);
        Wrk.run(run.wrk, script, target.url(), o.wrkThreads, maxConnections, warm);
      }
    }
    List<Measure> measures = new ArrayList<>();
    for (int r = 0; r < o.rounds; r++) {
      for (int connections : o.connections) {
        for (Target target : BenchRun.rotate(targets, r)) {
          MachineLoad.awaitQuiet(run, o.maxNoise, o.quietTimeout);
          MachineLoad.Snapshot quiet = MachineLoad.now();
          if (target.proxy() != null) {
            target.proxy().outcomesSinceLastCall();
          }
          ProcStats.Sample before = ProcStats.sample(target.pids().get());
          Wrk.Result result;
          ProcStats.Sample peak;
          try (MemorySampler memory = new MemorySampler(target.pids())) {
            result = Wrk.run(run.wrk, script, target.url(), o.wrkThreads, connections, round);
            memory.close();
            peak = memory.peak();
          }
          ProcStats.Sample after = ProcStats.sample(target.pids().get());
          double noise = MachineLoad.otherCores(quiet, MachineLoad.now());
          if (result.socketErrors() + result.non2xx() > 0) {
            run.keepForDiagnosis();
          }
          measures.add(new Measure(target, connections, r, result, after.cpuNanos() - before.cpuNanos(),
              after.sysNanos() - before.sysNanos(), peak, noise));
          run.progress("round %d/%d -c%d %-20s %9.0f req/s  p50 %.2f ms  p99 %.2f ms  cpu %.1f us/req  rss %.0f MiB"
                  + "  noise %.2f cores%s",
              r + 1, o.rounds, connections, target.name(), result.requestsPerSecond(), result.p50Ms(),
              result.p99Ms(), measures.get(measures.size() - 1).cpuMicrosPerRequest(), peak.rssMib(), noise,
              result.socketErrors() + result.non2xx() > 0
                  ? "  ERRORS socket " + result.socketErrors() + " non-2xx " + result.non2xx()
                      + (target.proxy() != null ? ", proxy log: " + target.proxy().outcomesSinceLastCall() : "")
                  : "");
          Children.sleep(Duration.ofMillis(500));
        }
      }
    }
    // What each process still holds once the load is over: what a user sees in top after a busy spell.
    java.util.Map<Target, ProcStats.Sample> afterLoad = new java.util.HashMap<>();
    for (Target target : targets) {
      if (target.measured()) {
        afterLoad.put(target, ProcStats.sample(target.pids().get()));
      }
    }
    report(run, targets, measures, afterLoad);
  }

  private static void report(BenchRun run, List<Target> targets, List<Measure> measures,
      java.util.Map<Target, ProcStats.Sample> afterLoad) {
    BenchOptions o = run.options;
    Table table = new Table("target", "conns", "req/s median", "req/s per round", "vs nginx", "issue target",
        "verdict", "p50 ms", "p99 ms", "CPU us/req", "of which sys", "RSS MiB", "PSS MiB", "RSS after MiB", "errors", "noise");
    for (int connections : o.connections) {
      double nginxRps = median(measures, targets, "nginx", connections, m -> m.wrk().requestsPerSecond());
      for (Target target : targets) {
        List<Measure> mine = measures.stream()
            .filter(m -> m.target() == target && m.connections() == connections).toList();
        double rps = Samples.median(mine.stream().map(m -> m.wrk().requestsPerSecond()).toList());
        double ratio = rps / nginxRps;
        String goal = "";
        String verdict = "";
        if (target.kind() == Kind.LLMRELAY) {
          double wanted = connections <= 16 ? 0.6 : connections >= 64 ? 0.5 : Double.NaN;
          if (!Double.isNaN(wanted) && (connections == 16 || connections == 64)) {
            goal = ">= " + wanted + "x nginx";
            verdict = Double.isNaN(ratio) ? "n/a" : Table.verdict(ratio >= wanted);
          }
        }
        long errors = mine.stream().mapToLong(m -> m.wrk().socketErrors() + m.wrk().non2xx()).sum();
        table.row(target.name(), connections, Table.fmt(rps, 0),
            mine.stream().map(m -> Table.fmt(m.wrk().requestsPerSecond(), 0)).collect(Collectors.joining(" ")),
            target.kind() == Kind.NGINX ? "1.00x" : Double.isNaN(ratio) ? "n/a" : Table.fmt(ratio, 2) + "x",
            goal, verdict,
            Table.fmt(Samples.median(mine.stream().map(m -> m.wrk().p50Ms()).toList()), 2),
            Table.fmt(Samples.median(mine.stream().map(m -> m.wrk().p99Ms()).toList()), 2),
            target.measured() ? Table.fmt(Samples.median(mine.stream().map(Measure::cpuMicrosPerRequest).toList()), 1)
                : "-",
            target.measured() ? Table.fmt(Samples.median(mine.stream().map(Measure::sysMicrosPerRequest).toList()), 1)
                : "-",
            target.measured() ? Table.fmt(mine.stream().mapToDouble(m -> m.peak().rssMib()).max().orElse(Double.NaN), 0)
                : "-",
            target.measured() ? Table.fmt(mine.stream().mapToDouble(m -> m.peak().pssMib()).max().orElse(Double.NaN), 0)
                : "-",
            afterLoad.containsKey(target) ? Table.fmt(afterLoad.get(target).rssMib(), 0) : "-",
            errors, Table.fmt(mine.stream().mapToDouble(Measure::noise).max().orElse(Double.NaN), 2));
      }
      table.separator();
    }
    run.out.println();
    run.out.println("THROUGHPUT (non-streaming, 0 ms upstream), medians of " + o.rounds + " rounds of "
        + o.roundOr(10).toSeconds() + " s");
    run.out.print(table.render());
    run.out.println("CPU us/req: utime+stime of the hop's processes during the round / requests completed "
        + "(nginx: master + workers; direct: '-'); 'of which sys': the stime part. RSS/PSS: peak during the rounds "
        + "(nginx: sum over its processes); RSS after: once the last round is over.");
    if (targets.stream().anyMatch(t -> t.kind() == Kind.BARE)) {
      run.out.println(BARE_NAME + ": a minimal Jetty 12 + OkHttp pass-through JVM with the first variant's JVM flags,"
          + " the Java stack's floor: nginx -> bare is the stack's cost, bare -> llmrelay the resilience layer's.");
    }
    run.out.println("p50/p99 are wrk's closed-loop latencies (coordinated omission): for information; see the latency mode.");
    run.out.println("noise: the most CPU (in cores) that processes outside the benchmark used during one of the rounds.");
    run.out.flush();
  }

  private static double median(List<Measure> measures, List<Target> targets, String name, int connections,
      Function<Measure, Double> metric) {
    return Samples.median(measures.stream()
        .filter(m -> m.target().name().equals(name) && m.connections() == connections)
        .map(metric).toList());
  }

  static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  static String ms(double value) {
    return String.format(Locale.ROOT, "%.2f", value);
  }
}
