package dev.llmrelay.example.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The benchmark's command line, parsed. Flags take {@code --name value} or {@code --name=value};
 * durations are seconds (decimals allowed). Immutable after {@link #parse}.
 */
final class BenchOptions {
  static final String USAGE = String.join("\n",
      "usage: bench.sh MODE [flags]",
      "modes: throughput | latency | stream | slowstreams | soak | all",
      "",
      "common:",
      "  --warmup S            warm-up before measuring (default 60; each JVM target (proxy, bare) gets S,",
      "                        nginx/direct min(S,5))",
      "  --rounds N            measured rounds per target, alternating targets (default 5)",
      "  --round S             seconds per round (default: throughput 10, latency 20, stream 20)",
      "  --java PATH           JDK home or java binary for the proxy JVM (default: this JVM's)",
      "  --proxy-jvm 'FLAGS'   JVM flags of the proxy, run as java FLAGS -cp llmrelay.jar (default: the proxy",
      "                        starts through the start script next to the jar, as users start it)",
      "  --variant NAME='FLAGS [ENV=V] [jdk=PATH] [jar=PATH] [script]'",
      "                        a proxy JVM to compare; repeat for several (replaces --proxy-jvm);",
      "                        words like POOL_MAX_IDLE_CONNECTIONS=64 are environment variables of that variant,",
      "                        jdk=PATH runs that variant on another JDK (home or java binary) than --java,",
      "                        jar=PATH runs that variant from another llmrelay jar (e.g. an older build; copied",
      "                        at start) instead of the benchmark's own, script starts it through the start",
      "                        script next to that jar (its default flags, then FLAGS as LLMRELAY_JAVA_OPTS);",
      "                        NAME='' is java -cp llmrelay.jar with the JVM's defaults",
      "  --proxy-env K=V       extra environment for the proxy (repeatable)",
      "  --upstream auto|nginx|inprocess   fast upstream for throughput (default auto: nginx if installed)",
      "  --no-nginx            skip the nginx target even if nginx is installed",
      "  --nginx PATH          nginx binary (default: /usr/sbin/nginx or PATH)",
      "  --nginx-workers N     worker_processes of the nginx proxy (default auto)",
      "  --keep                keep the temp dir (configs, logs) after the run",
      "  --max-noise CORES     before each round, wait until processes outside the benchmark use less than",
      "                        this many cores (default 0.3); --quiet-timeout S: wait at most S (default 900)",
      "throughput: --connections 16,64   --wrk-threads 2",
      "            --no-bare   skip the 'bare jetty+okhttp' target (a minimal Jetty 12 + OkHttp pass-through JVM",
      "                        with the first variant's JVM flags: the Java stack's floor without llmrelay)",
      "latency:    --rate 200 (req/s)    --delay-ms 50 (upstream)",
      "stream:     --events 20  --gap-ms 20  --stream-rate 10 (streams/s)",
      "slowstreams: --streams 5000  --stream-seconds 60  --interval-ms 1000  --ramp 10  --no-heap-probe",
      "soak:       --requests 10000  --concurrency 64  --seed 42");

  String mode;
  Duration warmup = Duration.ofSeconds(60);
  int rounds = 5;
  Duration round;
  List<Integer> connections = List.of(16, 64);
  int wrkThreads = 2;
  Path java = Path.of(System.getProperty("java.home"), "bin", "java");
  final List<ProxyProcess.Variant> variants = new ArrayList<>();
  final Map<String, String> proxyEnv = new LinkedHashMap<>();
  String upstream = "auto";
  boolean noNginx;
  boolean noBare;
  String nginx;
  String nginxWorkers = "auto";
  boolean keep;
  double rate = 200;
  int delayMs = 50;
  int events = 20;
  int gapMs = 20;
  double streamRate = 10;
  int streams = 5000;
  int streamSeconds = 60;
  int intervalMs = 1000;
  Duration ramp = Duration.ofSeconds(10);
  boolean heapProbe = true;
  int requests = 10_000;
  int concurrency = 64;
  long seed = 42;
  double maxNoise = 0.3;
  Duration quietTimeout = Duration.ofMinutes(15);

  static BenchOptions parse(String[] args) {
    BenchOptions o = new BenchOptions();
    String proxyJvm = null;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--")) {
        if (o.mode != null) {
          throw new IllegalArgumentException("two modes given: " + o.mode + " and " + arg);
        }
        o.mode = arg;
        continue;
      }
      String name = arg.substring(2);
      String value = null;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      }
      switch (name) {
        case "keep", "no-nginx", "no-bare", "no-heap-probe", "help" -> {
          if (value != null) {
            throw new IllegalArgumentException("--" + name + " takes no value");
          }
        }
        default -> {
          if (value == null) {
            if (i + 1 >= args.length) {
              throw new IllegalArgumentException("--" + name + " needs a value");
            }
            value = args[++i];
          }
        }
      }
      switch (name) {
        case "help" -> o.mode = "help";
        case "warmup" -> o.warmup = seconds(name, value);
        case "rounds" -> o.rounds = positive(name, value);
        case "round" -> o.round = seconds(name, value);
        case "connections" -> {
          List<Integer> list = new ArrayList<>();
          for (String c : value.split(",")) {
            list.add(positive(name, c.trim()));
          }
          o.connections = List.copyOf(list);
        }
        case "wrk-threads" -> o.wrkThreads = positive(name, value);
        case "java" -> o.java = javaBinary(value);
        case "proxy-jvm" -> proxyJvm = value;
        case "variant" -> o.variants.add(ProxyProcess.Variant.parse(value));
        case "proxy-env" -> {
          int at = value.indexOf('=');
          if (at <= 0) {
            throw new IllegalArgumentException("--proxy-env needs KEY=VALUE, was " + value);
          }
          o.proxyEnv.put(value.substring(0, at), value.substring(at + 1));
        }
        case "upstream" -> {
          if (!List.of("auto", "nginx", "inprocess").contains(value)) {
            throw new IllegalArgumentException("--upstream must be auto, nginx or inprocess");
          }
          o.upstream = value;
        }
        case "no-nginx" -> o.noNginx = true;
        case "no-bare" -> o.noBare = true;
        case "nginx" -> o.nginx = value;
        case "nginx-workers" -> o.nginxWorkers = value;
        case "keep" -> o.keep = true;
        case "rate" -> o.rate = positiveDouble(name, value);
        case "delay-ms" -> o.delayMs = nonNegative(name, value);
        case "events" -> o.events = positive(name, value);
        case "gap-ms" -> o.gapMs = nonNegative(name, value);
        case "stream-rate" -> o.streamRate = positiveDouble(name, value);
        case "streams" -> o.streams = positive(name, value);
        case "stream-seconds" -> o.streamSeconds = positive(name, value);
        case "interval-ms" -> o.intervalMs = positive(name, value);
        case "ramp" -> o.ramp = seconds(name, value);
        case "no-heap-probe" -> o.heapProbe = false;
        case "requests" -> o.requests = positive(name, value);
        case "concurrency" -> o.concurrency = positive(name, value);
        case "seed" -> o.seed = Long.parseLong(value);
        case "max-noise" -> o.maxNoise = positiveDouble(name, value);
        case "quiet-timeout" -> o.quietTimeout = seconds(name, value);
        default -> throw new IllegalArgumentException("unknown flag --" + name);
      }
    }
    if (o.mode == null) {
      o.mode = "help";
    }
    if (o.variants.isEmpty()) {
      // As users start it (README): through the start script, when the build made one.
      boolean script = proxyJvm == null
          && Files.isExecutable(ProxyProcess.productJar().toAbsolutePath().resolveSibling(ProxyProcess.Variant.SCRIPT));
      o.variants.add(ProxyProcess.Variant.parse("llmrelay=" + (script ? "script" : proxyJvm == null ? "" : proxyJvm)));
    } else if (proxyJvm != null) {
      throw new IllegalArgumentException("give either --proxy-jvm or --variant, not both");
    }
    return o;
  }

  Duration roundOr(int defaultSeconds) {
    return round != null ? round : Duration.ofSeconds(defaultSeconds);
  }

  static Path javaBinary(String value) {
    Path path = Path.of(value);
    if (Files.isDirectory(path)) {
      path = path.resolve("bin").resolve("java");
    }
    if (!Files.isExecutable(path)) {
      throw new IllegalArgumentException("--java: no executable java at " + path);
    }
    return path;
  }

  private static Duration seconds(String name, String value) {
    try {
      double s = Double.parseDouble(value);
      if (s < 0 || Double.isNaN(s) || Double.isInfinite(s)) {
        throw new NumberFormatException();
      }
      return Duration.ofMillis((long) (s * 1000));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " must be a number of seconds, was " + value);
    }
  }

  private static int positive(String name, String value) {
    int n = nonNegative(name, value);
    if (n == 0) {
      throw new IllegalArgumentException("--" + name + " must be at least 1");
    }
    return n;
  }

  private static int nonNegative(String name, String value) {
    try {
      int n = Integer.parseInt(value.trim());
      if (n < 0) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " must be a whole number >= 0, was " + value);
    }
  }

  private static double positiveDouble(String name, String value) {
    try {
      double d = Double.parseDouble(value);
      if (!(d > 0) || Double.isInfinite(d)) {
        throw new NumberFormatException();
      }
      return d;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " must be a positive number, was " + value);
    }
  }
}
