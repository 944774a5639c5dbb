package dev.llmrelay.example.bench;

import java.io.PrintStream;
import java.util.List;

/**
 * The llmrelay load benchmark, run by hand (not part of {@code verify}): {@code
 * proxy-example/bench.sh MODE [flags]}. {@code --help} lists the flags. The benchmark is not part of
 * {@code llmrelay.jar}: its classes are test classes of proxy-example ({@code src/bench/java}), and
 * bench.sh runs them with the product jar on the class path ({@code java -cp
 * target/test-classes:target/llmrelay.jar -Dllmrelay.jar=target/llmrelay.jar
 * dev.llmrelay.example.bench.Bench}, from copies).
 *
 * <h2>Modes</h2>
 * <ul>
 *   <li>{@code throughput}: non-streaming requests against a 0 ms upstream with wrk at 16 and 64
 *       connections; req/s, ratio to the nginx hop, CPU per request and RSS ({@link ThroughputBench});
 *   <li>{@code latency}: added latency at 200 req/s with a 50 ms upstream, open loop with
 *       coordinated omission corrected ({@link LatencyBench}, {@link OpenLoop});
 *   <li>{@code stream}: time to the first event and per-event forwarding of 20 events 20 ms
 *       apart ({@link StreamBench});
 *   <li>{@code slowstreams}: 5,000 concurrent streams of one event a second for 60 s through one
 *       proxy; completion, added inter-event delay and heap per stream ({@link SlowStreamsBench});
 *   <li>{@code soak}: 10,000 requests at concurrency 64 mixing every outcome, then checks that
 *       no permit, connection, exchange or thread was left behind ({@link Soak}; exits 1 when an
 *       invariant is broken);
 *   <li>{@code all}: each of the above in turn, with the defaults.
 * </ul>
 *
 * <h2>Targets</h2>
 * <b>direct</b> (client to the fast upstream), <b>nginx</b> (client to an nginx reverse proxy to
 * the same upstream; skipped with a message when nginx is not installed) and <b>llmrelay</b>
 * (client to the proxy to the same upstream; one target per {@code --variant}); the throughput mode
 * adds <b>bare jetty+okhttp</b> ({@link BarePassThrough}: a minimal Jetty 12 + OkHttp pass-through
 * in a JVM of its own with the first variant's JVM flags, the Java stack's floor; {@code
 * --no-bare} skips it). The fast upstream
 * is nginx ({@code return 200} with a fixed {@code chat.completion}) when installed, else an
 * in-process Jetty handler ({@link FastUpstream}); the latency and stream modes always use the
 * in-process one (it can wait 50 ms and stream, nginx cannot without extra modules). The output
 * says which. The proxy runs in a JVM of its own ({@link ProxyProcess}; {@code --java} picks the
 * JDK), so its CPU time and RSS are measured alone, like nginx's. Everything listens on
 * 127.0.0.1 only, and every process the benchmark starts is stopped when it ends.
 *
 * <h2>Method</h2>
 * A warm-up (default 60 s for each proxy JVM, at most 5 s for nginx and direct) precedes the
 * measurement; then rounds alternate the targets, rotating their order each round so slow drift
 * (thermal, page cache, JIT) spreads over all of them; the tables show medians over rounds and,
 * for throughput, every round's value so the spread is visible.
 */
public final class Bench {
  private Bench() {}

  public static void main(String[] args) throws Exception {
    BenchOptions options;
    try {
      options = BenchOptions.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("bench: " + e.getMessage());
      System.err.println(BenchOptions.USAGE);
      System.exit(64);
      return;
    }
    if (options.mode.equals("help")) {
      System.out.println(BenchOptions.USAGE);
      return;
    }
    // The in-process proxy of the soak would otherwise log one line per request.
    org.slf4j.Logger requests = org.slf4j.LoggerFactory.getLogger("dev.llmrelay.requests");
    if (requests instanceof ch.qos.logback.classic.Logger logback && logback.getLevel() == null) {
      logback.setLevel(ch.qos.logback.classic.Level.WARN);
    }
    List<String> modes = options.mode.equals("all")
        ? List.of("throughput", "latency", "stream", "slowstreams", "soak")
        : List.of(options.mode);
    boolean ok = true;
    for (String mode : modes) {
      ok &= runMode(mode, options, System.out);
    }
    System.exit(ok ? 0 : 1);
  }

  /** Runs one mode; false when it found a broken invariant (soak) or failed. */
  static boolean runMode(String mode, BenchOptions options, PrintStream out) {
    try (BenchRun run = new BenchRun(options, out)) {
      switch (mode) {
        case "throughput" -> ThroughputBench.run(run);
        case "latency" -> LatencyBench.run(run);
        case "stream" -> StreamBench.run(run);
        case "slowstreams" -> SlowStreamsBench.run(run); // a benchmark reports misses, it does not fail on them
        case "soak" -> {
          run.printSetup("soak", List.of("proxy:    in this JVM (RelayMain.start), simulated upstream in this JVM,"
              + " client: raw HTTP/1.1 sockets, one keep-alive connection per worker"));
          Soak.Report report = Soak.run(new Soak.Options(options.requests, options.concurrency, options.seed, 16, 200),
              System.err);
          report.print(out);
          return report.passed();
        }
        default -> {
          System.err.println("bench: unknown mode " + mode);
          System.err.println(BenchOptions.USAGE);
          return false;
        }
      }
      return true;
    } catch (Exception e) {
      System.err.println("bench: " + mode + " failed: " + e);
      e.printStackTrace();
      return false;
    }
  }
}
