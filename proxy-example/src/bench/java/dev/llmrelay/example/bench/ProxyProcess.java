package dev.llmrelay.example.bench;

import dev.llmrelay.example.RelayMain;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The proxy under test in a JVM of its own ({@code java <flags> -cp <llmrelay.jar, or the variant's
 * jar=> dev.llmrelay.example.RelayMain}), so that its CPU time and resident memory are its own and
 * not the load generator's. It runs in a directory of its own under the run's temp dir (so no {@code
 * .env} of the caller is read) with a clean environment: only {@code PATH}, {@code HOME}, {@code
 * LANG} and the {@code RELAY_*}/{@code UPSTREAM_*}/... variables given here. Its log (one line per
 * request at the launcher's default level) goes to a file.
 *
 * <p>Not thread-safe; close it to stop (SIGTERM, a graceful stop of at most one second).
 */
final class ProxyProcess implements AutoCloseable {
  /**
   * A named way to run the proxy: JVM flags, plus environment variables for this variant only,
   * e.g. {@code serial=-XX:+UseSerialGC -Xmx128m POOL_MAX_IDLE_CONNECTIONS=64} (a word of the form
   * {@code UPPER_CASE=value} is an environment variable, {@code jdk=PATH} a JDK home or java binary
   * for this variant instead of {@code --java}, {@code jar=PATH} an llmrelay jar to run instead of
   * the benchmark's own (another build, e.g. before a change), {@code script} to start the proxy
   * as users do, through the start script {@code llmrelay} next to the jar, anything else a JVM
   * flag).
   *
   * <p>A {@code script} variant runs {@code JAVA_HOME=<its JDK> [LLMRELAY_JAVA_OPTS=<its JVM
   * flags>] <dir>/llmrelay}: the script's own default flags, and the variant's flags after them as
   * a user would add them. Without {@code --variant} and {@code --proxy-jvm} the benchmark runs one
   * {@code script} variant when the build made the script, so it measures the launcher as users
   * start it.
   *
   * @param jar the {@code jar=} as given, for the report (null: the benchmark's own jar)
   * @param jarCopy the copy of {@code jar} that runs, {@code llmrelay.jar} in a temp dir of its own
   *     (with the start script that was next to {@code jar}, if any), taken at parse time so that
   *     rebuilding the jar during the run changes nothing (null when {@code jar} is)
   * @param script whether the proxy starts through the start script
   */
  record Variant(String name, List<String> jvmFlags, Map<String, String> env, Path jdk, Path jar, Path jarCopy,
      boolean script) {
    private static final Pattern ENV = Pattern.compile("[A-Z_][A-Z0-9_]*=.*");
    /** The start script's name, next to the jar it starts (target/llmrelay beside target/llmrelay.jar). */
    static final String SCRIPT = "llmrelay";

    static Variant parse(String spec) {
      int eq = spec.indexOf('=');
      String name = eq < 0 ? "llmrelay" : spec.substring(0, eq).trim();
      String flags = eq < 0 ? spec : spec.substring(eq + 1);
      List<String> list = new ArrayList<>();
      Map<String, String> env = new LinkedHashMap<>();
      Path jdk = null;
      Path jar = null;
      boolean script = false;
      for (String flag : flags.trim().split("\\s+")) {
        if (flag.startsWith("jdk=")) {
          jdk = BenchOptions.javaBinary(flag.substring(4));
        } else if (flag.startsWith("jar=")) {
          jar = Path.of(flag.substring(4));
          if (!Files.isRegularFile(jar)) {
            throw new IllegalArgumentException("--variant " + name + ": no jar at " + jar);
          }
        } else if (flag.equals("script")) {
          script = true;
        } else if (ENV.matcher(flag).matches()) {
          int at = flag.indexOf('=');
          env.put(flag.substring(0, at), flag.substring(at + 1));
        } else if (!flag.isEmpty()) {
          list.add(flag);
        }
      }
      Path jarCopy = jar == null ? null : copy(jar);
      Variant variant = new Variant(name, List.copyOf(list), Map.copyOf(env), jdk, jar, jarCopy, script);
      if (script && !Files.isExecutable(variant.scriptPath())) {
        throw new IllegalArgumentException("--variant " + name + ": script, but no executable start script at "
            + variant.scriptPath() + (jar == null ? " (build it: mvn -pl proxy-example -am package)" : ""));
      }
      return variant;
    }

    /**
     * Copies {@code jar} as {@code llmrelay.jar} (and the start script next to it, if any) to a temp
     * dir deleted when the benchmark exits, as bench.sh does for its own.
     */
    private static Path copy(Path jar) {
      try {
        Path dir = Files.createTempDirectory("llmrelay-bench-variant-");
        dir.toFile().deleteOnExit();
        Path copy = dir.resolve("llmrelay.jar");
        Files.copy(jar, copy, StandardCopyOption.REPLACE_EXISTING);
        copy.toFile().deleteOnExit();
        Path script = jar.toAbsolutePath().resolveSibling(SCRIPT);
        if (Files.isRegularFile(script)) {
          Path scriptCopy = Files.copy(script, dir.resolve(SCRIPT), StandardCopyOption.REPLACE_EXISTING);
          scriptCopy.toFile().setExecutable(true);
          scriptCopy.toFile().deleteOnExit();
        }
        return copy;
      } catch (IOException e) {
        throw new UncheckedIOException("copying " + jar, e);
      }
    }

    /** This variant with {@code flags} after its own (for a script variant: in LLMRELAY_JAVA_OPTS). */
    Variant withMoreJvmFlags(List<String> flags) {
      List<String> all = new ArrayList<>(jvmFlags);
      all.addAll(flags);
      return new Variant(name, List.copyOf(all), env, jdk, jar, jarCopy, script);
    }

    String label() {
      return name.equals("llmrelay") ? name : "llmrelay[" + name + "]";
    }

    String flagsText() {
      String text;
      if (script) {
        text = "start script " + scriptPath() + (jvmFlags.isEmpty() ? " (its default flags)"
            : " with LLMRELAY_JAVA_OPTS=" + String.join(" ", jvmFlags));
      } else {
        text = jvmFlags.isEmpty() ? "(JVM defaults)" : String.join(" ", jvmFlags);
      }
      text = env.isEmpty() ? text : text + " " + env;
      text = jdk == null ? text : text + " on " + jdk;
      return jar == null ? text : text + " from " + jar;
    }

    /** The jar this variant's proxy runs: its own {@code jar=} (copied) or the benchmark's. */
    Path runJar() {
      return jarCopy != null ? jarCopy : productJar();
    }

    /** The start script next to {@link #runJar()}. */
    Path scriptPath() {
      return runJar().toAbsolutePath().resolveSibling(SCRIPT);
    }

    /** This variant's java binary: its own {@code jdk=} or the run's {@code --java}. */
    Path javaOr(Path runJava) {
      return jdk != null ? jdk : runJava;
    }
  }

  /**
   * What every proxy of the benchmark gets (a variant or {@code --proxy-env} may override it): no
   * permit limit in the way of the load, an idle pool larger than any load's concurrency (README:
   * a smaller one closes and reopens upstream connections), no heartbeat traffic.
   */
  static final Map<String, String> BENCH_ENV =
      Map.of("MAX_CONCURRENT_REQUESTS", "10000", "POOL_MAX_IDLE_CONNECTIONS", "256", "HEALTH_INTERVAL_SECONDS", "0");

  private final Variant variant;
  private final Process process;
  private final int port;
  private final Path log;
  private final Path java;
  private long logOffset;

  ProxyProcess(Path java, Variant variant, Path dir, String upstreamBaseUrl, Map<String, String> extraEnv) {
    this.variant = variant;
    this.java = variant.javaOr(java);
    this.port = Children.freePort();
    Path home = dir.resolve("proxy-" + variant.name().replaceAll("[^A-Za-z0-9._-]", "_") + "-" + port);
    this.log = home.resolve("proxy.log");
    try {
      Files.createDirectories(home);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> command = new ArrayList<>();
    if (variant.script()) {
      command.add(variant.scriptPath().toString());
    } else {
      command.add(this.java.toString());
      command.addAll(variant.jvmFlags());
      command.add("-cp");
      command.add(variant.runJar().toString());
      command.add(RelayMain.class.getName());
    }
    ProcessBuilder builder = new ProcessBuilder(command)
        .directory(home.toFile())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    Map<String, String> env = Children.cleanEnvironment(builder);
    if (variant.script()) {
      // As a user starts it: the script picks $JAVA_HOME/bin/java; the variant's flags come after
      // the script's defaults. The clean environment has no JAVA_OPTS of the caller.
      env.put("JAVA_HOME", javaHome(this.java).toString());
      if (!variant.jvmFlags().isEmpty()) {
        env.put("LLMRELAY_JAVA_OPTS", String.join(" ", variant.jvmFlags()));
      }
    }
    env.put("RELAY_HOST", Children.HOST);
    env.put("RELAY_PORT", Integer.toString(port));
    env.put("UPSTREAM_BASE_URL", upstreamBaseUrl);
    env.putAll(BENCH_ENV);
    env.put("SHUTDOWN_TIMEOUT_SECONDS", "1");
    env.putAll(extraEnv);
    env.putAll(variant.env());
    process = Children.startServing(builder, url() + "/health", log);
  }

  Variant variant() {
    return variant;
  }

  /**
   * The JVM flags the proxy's JVM was really started with (its command line from {@code /proc}
   * between the java binary and {@code -jar}/{@code -cp}): for a {@code script} variant, the
   * script's defaults plus the variant's flags.
   */
  List<String> jvmFlagsAsStarted() {
    try {
      String[] words = Files.readString(Path.of("/proc", Long.toString(process.pid()), "cmdline"), StandardCharsets.UTF_8)
          .split("\0");
      List<String> flags = new ArrayList<>();
      for (int i = 1; i < words.length && !words[i].equals("-jar") && !words[i].equals("-cp"); i++) {
        flags.add(words[i]);
      }
      return List.copyOf(flags);
    } catch (IOException e) {
      return variant.jvmFlags();
    }
  }

  /** {@code JAVA_HOME} for a java binary: {@code <home>/bin/java}, symlinks resolved. */
  static Path javaHome(Path java) {
    try {
      return java.toRealPath().getParent().getParent();
    } catch (IOException e) {
      throw new UncheckedIOException("no java at " + java, e);
    }
  }

  String url() {
    return "http://" + Children.HOST + ":" + port;
  }

  long pid() {
    return process.pid();
  }

  List<Long> pids() {
    return List.of(process.pid());
  }

  Path log() {
    return log;
  }

  /**
   * The proxy's request-log lines written since the last call, counted by {@code status} and
   * {@code outcome} (empty when the request log is not at INFO): what the errors wrk counted were.
   */
  Map<String, Integer> outcomesSinceLastCall() {
    Map<String, Integer> counts = new java.util.TreeMap<>();
    try (RandomAccessFile file = new RandomAccessFile(log.toFile(), "r")) {
      file.seek(Math.min(logOffset, file.length()));
      byte[] rest = new byte[(int) Math.min(Integer.MAX_VALUE - 8, file.length() - file.getFilePointer())];
      file.readFully(rest);
      logOffset = file.getFilePointer();
      Matcher m = Pattern.compile("status=(\\d+) outcome=(\\S+)").matcher(new String(rest, StandardCharsets.UTF_8));
      while (m.find()) {
        counts.merge(m.group(1) + " " + m.group(2), 1, Integer::sum);
      }
    } catch (IOException e) {
      counts.put("log unreadable: " + e, 1);
    }
    return counts;
  }

  /** Runs {@code jcmd PID <command...>} with the jcmd next to the proxy's java. */
  String jcmd(String... command) {
    Path jcmd = java.resolveSibling("jcmd");
    List<String> full = new ArrayList<>();
    full.add(Files.isExecutable(jcmd) ? jcmd.toString() : "jcmd");
    full.add(Long.toString(process.pid()));
    full.addAll(List.of(command));
    return Children.run(Duration.ofSeconds(120), full.toArray(String[]::new));
  }

  /** Live heap after a full GC, from {@code jcmd PID GC.class_histogram} (which runs one). */
  HeapHistogram liveHeap() {
    return HeapHistogram.parse(jcmd("GC.class_histogram"));
  }

  @Override
  public void close() {
    Children.stop(process, Duration.ofSeconds(10));
  }

  /**
   * The llmrelay jar the proxies run from unless a variant names its own: the {@code llmrelay.jar}
   * system property (bench.sh sets it to its copy of {@code target/llmrelay.jar}), else wherever
   * {@link RelayMain} was loaded from. The benchmark's own classes are not in
   * that jar (they are test classes of proxy-example), so the proxy runs exactly what users run.
   */
  static Path productJar() {
    String property = System.getProperty("llmrelay.jar");
    if (property != null && !property.isBlank()) {
      return Path.of(property);
    }
    try {
      return Path.of(RelayMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException | RuntimeException e) {
      throw new IllegalStateException("cannot tell where the llmrelay jar is; set -Dllmrelay.jar=PATH", e);
    }
  }

  /** The Java version the proxy JVM reports, e.g. {@code 17.0.15}. */
  static String javaVersion(Path java) {
    String out = Children.run(Duration.ofSeconds(20), java.toString(), "-version");
    Matcher m = Pattern.compile("version \"([^\"]+)\"").matcher(out);
    return m.find() ? m.group(1) : out.lines().findFirst().orElse("?");
  }

  /** The feature release of {@code java} (17, 21, 25). */
  static int javaFeature(Path java) {
    String version = javaVersion(java);
    try {
      return Integer.parseInt(version.split("[.+-]")[0]);
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /** A class histogram: total live bytes and instances per class. */
  record HeapHistogram(long totalBytes, long totalInstances, Map<String, long[]> classes) {
    static HeapHistogram parse(String out) {
      Map<String, long[]> classes = new LinkedHashMap<>();
      long bytes = -1;
      long instances = -1;
      Pattern row = Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)");
      Pattern total = Pattern.compile("^Total\\s+(\\d+)\\s+(\\d+)");
      for (String line : out.split("\n")) {
        Matcher m = row.matcher(line);
        if (m.find()) {
          classes.merge(m.group(3), new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))},
              (a, b) -> new long[] {a[0] + b[0], a[1] + b[1]});
          continue;
        }
        Matcher t = total.matcher(line);
        if (t.find()) {
          instances = Long.parseLong(t.group(1));
          bytes = Long.parseLong(t.group(2));
        }
      }
      if (bytes < 0) {
        throw new IllegalStateException("no Total line in jcmd GC.class_histogram output:\n"
            + out.lines().limit(10).reduce("", (a, b) -> a + b + "\n"));
      }
      return new HeapHistogram(bytes, instances, classes);
    }
  }
}
