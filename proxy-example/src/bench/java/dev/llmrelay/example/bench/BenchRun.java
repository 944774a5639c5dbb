package dev.llmrelay.example.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * What one benchmark mode needs while it runs: the options, a temp directory for configs and
 * logs, the tools found on this machine, progress lines on stderr, and the servers it started,
 * closed in reverse order at the end. Not thread-safe.
 */
final class BenchRun implements AutoCloseable {
  /**
   * Something load is sent to: the upstream itself, nginx in front of it, a proxy JVM, or (throughput
   * only) the bare Jetty + OkHttp pass-through JVM.
   */
  record Target(String name, Kind kind, String url, Supplier<List<Long>> pids, ProxyProcess proxy) {
    Target(String name, Kind kind, String url, Supplier<List<Long>> pids) {
      this(name, kind, url, pids, null);
    }

    boolean measured() {
      return kind != Kind.DIRECT;
    }
  }

  enum Kind { DIRECT, NGINX, BARE, LLMRELAY }

  final BenchOptions options;
  final PrintStream out;
  final Path dir;
  final Path nginx;
  final Path wrk;
  private final long started = System.nanoTime();
  private final Deque<AutoCloseable> owned = new ArrayDeque<>();
  private boolean failuresSeen;

  BenchRun(BenchOptions options, PrintStream out) {
    this.options = options;
    this.out = out;
    try {
      this.dir = Files.createTempDirectory("llmrelay-bench-");
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    this.nginx = options.noNginx ? null : NginxServer.find(options.nginx);
    this.wrk = Wrk.find();
  }

  <T extends AutoCloseable> T own(T resource) {
    owned.push(resource);
    return resource;
  }

  /**
   * Adds the nginx hop (when nginx is installed) and one proxy JVM per variant in front of the
   * upstream at {@code upstreamPort}, as targets, with their setup lines.
   *
   * @param buffering nginx's {@code proxy_buffering} (off for streams)
   */
  void addNginxAndProxies(List<Target> targets, List<String> setup, int upstreamPort, boolean buffering) {
    String upstreamRoot = "http://" + Children.HOST + ":" + upstreamPort;
    if (nginx != null) {
      NginxServer proxy = own(NginxServer.proxy(nginx, dir, upstreamPort, buffering, options.nginxWorkers));
      targets.add(new Target("nginx", Kind.NGINX, proxy.url(), proxy::pids));
      setup.add("nginx:    " + proxy.description());
    } else {
      setup.add("nginx:    SKIPPED, nginx is not installed");
    }
    for (ProxyProcess.Variant variant : options.variants) {
      progress("starting proxy %s: %s", variant.label(), variant.flagsText());
      ProxyProcess proxy = own(new ProxyProcess(options.java, variant, dir, upstreamRoot + "/v1", options.proxyEnv));
      targets.add(new Target(variant.label(), Kind.LLMRELAY, proxy.url(), proxy::pids, proxy));
      setup.add("proxy:    " + variant.label() + " pid " + proxy.pid() + ", JVM flags " + variant.flagsText());
    }
  }

  /** Something failed during the run: keep the temp dir (configs, proxy and nginx logs) to look at. */
  void keepForDiagnosis() {
    failuresSeen = true;
  }

  void progress(String format, Object... args) {
    long s = Duration.ofNanos(System.nanoTime() - started).toSeconds();
    System.err.printf(Locale.ROOT, "[bench +%02d:%02d] %s%n", s / 60, s % 60, String.format(Locale.ROOT, format, args));
    System.err.flush();
  }

  /** Prints the machine, the tools and their versions: what a reader needs to compare runs. */
  void printSetup(String mode, List<String> lines) {
    out.println();
    out.println("== llmrelay bench: " + mode + " (" + Instant.now() + ") ==");
    out.println("machine:  " + Runtime.getRuntime().availableProcessors() + " CPUs, " + memTotal() + ", "
        + System.getProperty("os.name") + " " + System.getProperty("os.version"));
    out.println("bench JVM: Java " + Runtime.version() + " (load generator and in-process upstream)");
    out.println("proxy JVM: " + options.java + " (Java " + ProxyProcess.javaVersion(options.java) + ")");
    out.println("proxy jar: " + ProxyProcess.productJar());
    out.println("nginx:    " + (nginx == null ? "not installed (nginx target skipped)" : NginxServer.version(nginx)));
    out.println("wrk:      " + (wrk == null ? "not installed" : Wrk.version(wrk)));
    for (String line : lines) {
      out.println(line);
    }
    out.flush();
  }

  private static String memTotal() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemTotal:")) {
          long kib = Long.parseLong(line.replaceAll("\\D", ""));
          return String.format(Locale.ROOT, "%.1f GiB RAM", kib / 1024.0 / 1024.0);
        }
      }
    } catch (IOException | RuntimeException e) {
      // fall through
    }
    return "? RAM";
  }

  /** Targets in a different order each round, so drift (heat, page cache, JIT) spreads evenly. */
  static <T> List<T> rotate(List<T> items, int round) {
    int n = items.size();
    return Stream.iterate(0, i -> i + 1).limit(n).map(i -> items.get((i + round) % n)).toList();
  }

  @Override
  public void close() {
    while (!owned.isEmpty()) {
      try {
        owned.pop().close();
      } catch (Exception e) {
        progress("while stopping: %s", e);
      }
    }
    if (options.keep || failuresSeen) {
      progress("kept %s%s", dir, failuresSeen ? " (requests failed: the proxy and nginx logs are there)" : "");
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // leave it
    }
  }
}
