package dev.llmrelay.example.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Many concurrent slow streams through one proxy: {@code --streams} (default 5000) SSE streams of
 * one event every {@code --interval-ms} (1 s) for {@code --stream-seconds} (60 s), opened evenly
 * over {@code --ramp} seconds, through the first proxy variant started with {@code
 * MAX_CONCURRENT_REQUESTS} equal to the stream count. The upstream ({@link FastUpstream}) and the
 * client ({@link StreamLoad}: NIO, no thread per stream) share this JVM; the proxy has its own.
 *
 * <p>Measured: streams complete (every event and {@code [DONE]}, no error event), failures by
 * reason, the added inter-event delay (arrival gap minus the upstream's actual send gap, so the
 * upstream's own timer jitter is not charged to the proxy; the gap minus the nominal interval is
 * shown too), and the proxy's memory per open stream.
 *
 * <p>Memory per stream: the proxy's live heap is read with {@code jcmd PID GC.class_histogram}
 * (it runs a full GC first, so the number is live objects, not garbage) once before the streams
 * and once when all of them are open; the difference divided by the number of streams open at
 * that moment is the heap per stream, and the classes that grew most show what it is made of.
 * RSS and thread count (from {@code /proc}) are read at the same moments: on Java 17 every stream
 * holds a platform thread whose stack is native memory, outside the heap. The forced full GC
 * pauses the proxy, which would count as added delay; events in flight during that pause are
 * therefore reported apart ("excluding the heap probe"), and the probe can be turned off with
 * {@code --no-heap-probe}. A last histogram after the streams ended shows what was not released.
 */
final class SlowStreamsBench {
  private SlowStreamsBench() {}

  static boolean run(BenchRun run) {
    BenchOptions o = run.options;
    int n = o.streams;
    int events = Math.max(2, (int) (o.streamSeconds * 1000L / o.intervalMs));
    Duration interval = Duration.ofMillis(o.intervalMs);
    FastUpstream upstream = run.own(FastUpstream.sse(events, interval));
    String upstreamRoot = "http://" + Children.HOST + ":" + upstream.port();
    ProxyProcess.Variant variant = o.variants.get(0);
    if (variant.script() && variant.jvmFlags().stream().noneMatch(f -> f.startsWith("-Xmx") || f.startsWith("-XX:MaxRAM"))) {
      // The start script's -Xmx512m is sized for the default limits; a user opening thousands of
      // streams adds heap as the README says (about 64 KiB per open stream), and so does this run.
      long heapMib = Math.max(512, 128 + (long) n * 64 / 1024);
      variant = variant.withMoreJvmFlags(List.of("-Xmx" + heapMib + "m"));
      run.progress("the start script's default heap is for the default limits: adding -Xmx%dm for %d streams",
          heapMib, n);
    }
    java.util.Map<String, String> env = new java.util.LinkedHashMap<>(o.proxyEnv);
    env.put("MAX_CONCURRENT_REQUESTS", Integer.toString(n));
    env.putIfAbsent("MAX_QUEUED_REQUESTS", Integer.toString(Math.max(1000, n)));
    run.progress("starting proxy %s: %s", variant.label(), variant.flagsText());
    ProxyProcess proxy = run.own(new ProxyProcess(o.java, variant, run.dir, upstreamRoot + "/v1", env));
    int feature = ProxyProcess.javaFeature(o.java);
    List<String> setup = new ArrayList<>();
    setup.add("upstream: " + upstream.description() + " at " + upstreamRoot);
    setup.add("proxy:    " + variant.label() + " pid " + proxy.pid() + ", Java " + feature + " ("
        + (feature >= 21 ? "exchanges on virtual threads" : "exchanges on platform threads: one thread per open stream")
        + "), JVM flags " + variant.flagsText() + ", env " + env);
    setup.add("load:     " + n + " streams opened over " + o.ramp.toSeconds() + " s, " + events + " events "
        + o.intervalMs + " ms apart each; client java.net.http async (NIO)");
    run.printSetup("slowstreams", setup);

    ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "bench-http-client");
      t.setDaemon(true);
      return t;
    });
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor)
        .connectTimeout(Duration.ofSeconds(30)).build();
    // Warm the proxy a little so the baseline includes loaded classes and JIT-compiled code.
    StreamLoad.run(client, URI.create(proxy.url() + Wrk.PATH), 20, 20, events, interval.multipliedBy(events).plusSeconds(30));
    Children.sleep(Duration.ofSeconds(1));
    ProxyProcess.HeapHistogram before = o.heapProbe ? proxy.liveHeap() : null;
    ProcStats.Sample memBefore = ProcStats.sample(proxy.pids());
    run.progress("baseline: live heap %s, RSS %.0f MiB, %d threads",
        before == null ? "n/a" : mib(before.totalBytes()), memBefore.rssMib(), memBefore.threads());

    MachineLoad.awaitQuiet(run, o.maxNoise, o.quietTimeout);
    MachineLoad.Snapshot quiet = MachineLoad.now();
    double rate = n / Math.max(0.001, o.ramp.toMillis() / 1000.0);
    Duration timeout = o.ramp.plus(interval.multipliedBy(events)).plusSeconds(60);
    long loadStart = System.nanoTime();
    CompletableFuture<List<StreamLoad.Stream>> load = CompletableFuture.supplyAsync(
        () -> StreamLoad.run(client, URI.create(proxy.url() + Wrk.PATH), n, rate, events, timeout));
    ProcStats.Sample peak;
    ProxyProcess.HeapHistogram mid = null;
    ProcStats.Sample memMid = null;
    long probeFrom = Long.MAX_VALUE;
    long probeTo = Long.MIN_VALUE;
    long midAt = loadStart + o.ramp.toNanos() + Math.min(Duration.ofSeconds(15).toNanos(),
        interval.multipliedBy(events).toNanos() / 3);
    long nextReport = loadStart + Duration.ofSeconds(10).toNanos();
    try (MemorySampler memory = new MemorySampler(proxy::pids)) {
      while (!load.isDone()) {
        if (mid == null && memMid == null && System.nanoTime() >= midAt) {
          memMid = ProcStats.sample(proxy.pids());
          if (o.heapProbe) {
            probeFrom = System.nanoTime();
            mid = proxy.liveHeap();
            probeTo = System.nanoTime();
          }
          run.progress("all streams open: live heap %s, RSS %.0f MiB, %d threads (probe took %d ms)",
              mid == null ? "n/a" : mib(mid.totalBytes()), memMid.rssMib(), memMid.threads(),
              mid == null ? 0 : (probeTo - probeFrom) / 1_000_000);
        }
        Children.sleep(Duration.ofMillis(200));
        if (System.nanoTime() >= nextReport) {
          nextReport += Duration.ofSeconds(10).toNanos();
          ProcStats.Sample now = ProcStats.sample(proxy.pids());
          run.progress("t=%ds proxy RSS %.0f MiB, %d threads", (System.nanoTime() - loadStart) / 1_000_000_000L,
              now.rssMib(), now.threads());
        }
      }
      memory.close();
      peak = memory.peak();
    }
    List<StreamLoad.Stream> streams = load.join();
    double noise = MachineLoad.otherCores(quiet, MachineLoad.now());
    if (streams.stream().anyMatch(s -> s.failure != null)) {
      run.keepForDiagnosis();
    }
    executor.shutdownNow();
    Children.sleep(Duration.ofSeconds(2));
    ProxyProcess.HeapHistogram after = o.heapProbe ? proxy.liveHeap() : null;
    ProcStats.Sample memAfter = ProcStats.sample(proxy.pids());

    final long from = probeFrom;
    final long to = probeTo;
    int openAtProbe = memMid == null ? 0 : (int) streams.stream().filter(s -> {
      synchronized (s) {
        return s.events > 0 && s.arrived[0] < (from == Long.MAX_VALUE ? midAt : from)
            && s.arrived[s.events - 1] > (to == Long.MIN_VALUE ? midAt : to);
      }
    }).count();
    StreamBench.StreamStats all = StreamBench.StreamStats.of(streams, events, interval.toNanos(), Long.MAX_VALUE, Long.MIN_VALUE);
    StreamBench.StreamStats clean = StreamBench.StreamStats.of(streams, events, interval.toNanos(), from, to);
    Samples gapMinusNominal = new Samples();
    for (StreamLoad.Stream s : streams) {
      synchronized (s) {
        for (int i = 1; i < s.events; i++) {
          if (!(s.sent[i] <= to && s.arrived[i] >= from)) {
            gapMinusNominal.add(s.arrived[i] - s.arrived[i - 1] - interval.toNanos());
          }
        }
      }
    }

    boolean pass = report(run, n, events, all, clean, gapMinusNominal, before, mid, after, memBefore, memMid, memAfter,
        peak, openAtProbe, feature, noise);
    return pass;
  }

  private static boolean report(BenchRun run, int n, int events, StreamBench.StreamStats all,
      StreamBench.StreamStats clean, Samples gapMinusNominal, ProxyProcess.HeapHistogram before,
      ProxyProcess.HeapHistogram mid, ProxyProcess.HeapHistogram after, ProcStats.Sample memBefore,
      ProcStats.Sample memMid, ProcStats.Sample memAfter, ProcStats.Sample peak, int openAtProbe, int feature,
      double noise) {
    double p99Clean = clean.addedGaps().percentileMillis(99);
    double heapPerStream = before != null && mid != null && openAtProbe > 0
        ? (mid.totalBytes() - before.totalBytes()) / 1024.0 / openAtProbe : Double.NaN;
    double rssPerStream = memMid != null && openAtProbe > 0
        ? (memMid.rssKib() - memBefore.rssKib()) / (double) openAtProbe : Double.NaN;
    int errors = all.failures().values().stream().mapToInt(Integer::intValue).sum();
    Table table = new Table("metric", "value", "issue target", "verdict");
    table.row("streams complete", all.complete() + " / " + n, "all", Table.verdict(all.complete() == n));
    table.row("streams failed", errors, "0", Table.verdict(errors == 0));
    table.row("events received", all.oneWay().count() + " / " + (long) n * events, "", "");
    table.row("added inter-event delay p50 / p99 / p99.9 / max ms (excl. heap probe)",
        Table.fmt(clean.addedGaps().percentileMillis(50), 1) + " / " + Table.fmt(p99Clean, 1) + " / "
            + Table.fmt(clean.addedGaps().percentileMillis(99.9), 1) + " / " + Table.fmt(clean.addedGaps().maxMillis(), 1),
        "p99 < 50 ms", Table.verdict(p99Clean < 50));
    table.row("added inter-event delay p99 / max ms (all events)",
        Table.fmt(all.addedGaps().percentileMillis(99), 1) + " / " + Table.fmt(all.addedGaps().maxMillis(), 1), "", "");
    table.row("arrival gap minus " + run.options.intervalMs + " ms p50 / p99 / max ms (excl. probe)",
        Table.fmt(gapMinusNominal.percentileMillis(50), 1) + " / " + Table.fmt(gapMinusNominal.percentileMillis(99), 1)
            + " / " + Table.fmt(gapMinusNominal.maxMillis(), 1), "", "");
    table.row("event one-way delay p50 / p99 / max ms (excl. probe)",
        Table.fmt(clean.oneWay().percentileMillis(50), 1) + " / " + Table.fmt(clean.oneWay().percentileMillis(99), 1)
            + " / " + Table.fmt(clean.oneWay().maxMillis(), 1), "", "");
    table.row("time to first event p50 / p99 / max ms",
        Table.fmt(all.ttfb().percentileMillis(50), 1) + " / " + Table.fmt(all.ttfb().percentileMillis(99), 1) + " / "
            + Table.fmt(all.ttfb().maxMillis(), 1), "", "");
    table.row("streams open at the heap probe", openAtProbe, "", "");
    table.row("live heap before / all open / after (MiB)",
        (before == null ? "n/a" : mib(before.totalBytes())) + " / " + (mid == null ? "n/a" : mib(mid.totalBytes()))
            + " / " + (after == null ? "n/a" : mib(after.totalBytes())), "", "");
    table.row("heap growth per open stream (KiB)", Table.fmt(heapPerStream, 1), "< 64 KiB",
        Double.isNaN(heapPerStream) ? "n/a" : Table.verdict(heapPerStream < 64));
    table.row("RSS before / all open / peak / after (MiB)",
        Table.fmt(memBefore.rssMib(), 0) + " / " + (memMid == null ? "n/a" : Table.fmt(memMid.rssMib(), 0)) + " / "
            + Table.fmt(peak.rssMib(), 0) + " / " + Table.fmt(memAfter.rssMib(), 0), "", "");
    table.row("RSS growth per open stream (KiB)", Table.fmt(rssPerStream, 1), "", "");
    table.row("proxy threads before / all open / peak / after",
        memBefore.threads() + " / " + (memMid == null ? "n/a" : memMid.threads()) + " / " + peak.threads() + " / "
            + memAfter.threads(), "", "");
    table.row("noise: cores used outside the benchmark (mean over the run)", Table.fmt(noise, 2), "", "");
    run.out.println();
    run.out.println("SLOW STREAMS: " + n + " concurrent streams, " + events + " events " + run.options.intervalMs
        + " ms apart, proxy on Java " + feature);
    run.out.print(table.render());
    if (!all.failures().isEmpty()) {
      run.out.println("failures by reason:");
      all.failures().entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(15)
          .forEach(e -> run.out.println("  " + e.getValue() + " x " + e.getKey()));
    }
    if (before != null && mid != null) {
      run.out.println("heap growth by class, all streams open minus before (top 12, per open stream):");
      Table classes = new Table("class", "instances", "bytes", "bytes/stream");
      mid.classes().entrySet().stream()
          .map(e -> {
            long[] was = before.classes().getOrDefault(e.getKey(), new long[2]);
            return Map.entry(e.getKey(), new long[] {e.getValue()[0] - was[0], e.getValue()[1] - was[1]});
          })
          .sorted(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[1]).reversed())
          .limit(12)
          .forEach(e -> classes.row(e.getKey(), e.getValue()[0], e.getValue()[1],
              openAtProbe == 0 ? "n/a" : Table.fmt(e.getValue()[1] / (double) openAtProbe, 0)));
      run.out.print(classes.render());
    }
    if (feature < 21) {
      run.out.println("Java " + feature + ": no virtual threads, so every open stream holds one platform thread in the"
          + " proxy (blocked reading the upstream); its stack is native memory (RSS), not heap.");
    }
    run.out.flush();
    return all.complete() == n && errors == 0 && p99Clean < 50 && (Double.isNaN(heapPerStream) || heapPerStream < 64);
  }

  private static String mib(long bytes) {
    return Table.fmt(bytes / 1024.0 / 1024.0, 1);
  }
}
