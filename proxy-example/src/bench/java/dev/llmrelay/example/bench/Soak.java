package dev.llmrelay.example.bench;

import dev.llmrelay.core.RelayStats;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.example.RelayMain;
import dev.llmrelay.example.RunningRelay;
import dev.llmrelay.example.simulate.SimulatedUpstream;
import dev.llmrelay.example.simulate.SimulatorConfig;
import dev.llmrelay.example.simulate.SimulatorStats;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The soak: many requests at a fixed concurrency through one proxy, mixing every way a request
 * can end (success as JSON and as a stream, upstream 5xx and HTML 5xx, 429, bodies and streams
 * cut short, upstream timeouts, client aborts while waiting and mid-stream, and gate rejections
 * from a deliberately small {@code MAX_CONCURRENT_REQUESTS}), then checks that the proxy is
 * back where it started:
 *
 * <ul>
 *   <li>every permit is free ({@code gate().availablePermits() == maxPermits()}), nobody queued,
 *       nothing in flight;
 *   <li>no upstream connection is leased ({@code leasedConnections() == 0}) and no exchange is
 *       active ({@code activeExchanges() == 0}); the simulator has no open exchange either;
 *   <li>{@code stats().requests()} equals the sum of the outcome counters, and equals the number
 *       of requests the load client sent;
 *   <li>the thread count is back to the baseline taken before the run (see below);
 *   <li>the client saw no unexpected I/O error (every request that it did not abort itself got a
 *       complete HTTP answer) and never waited out its read timeout.
 * </ul>
 *
 * <p>The proxy runs in this JVM ({@link RelayMain#start}) so its internals can be inspected; the
 * upstream is the {@link SimulatedUpstream}, with no random faults: each request chooses its fault
 * with {@code X-Sim-Fault} and its latency with {@code X-Sim-Latency-Ms}. All kinds share one
 * model, so one route and one circuit breaker, tuned to open only when every attempt of a long
 * run fails ({@code BREAKER_FAILURES=1000}, {@code BREAKER_FAILURE_RATE=100}, {@code
 * BREAKER_OPEN_SECONDS=0.2}): the breaker is not what the soak is about, and per-kind routes would
 * let the always-failing kinds sit behind an open breaker instead of exercising their paths. The client is {@link
 * RawHttpConnection}, one keep-alive socket per worker thread, which aborts by closing its socket.
 *
 * <p>Threads: the pools the proxy uses grow under load and shrink only after their idle time
 * (Jetty's 60 s, the JDK cached pool's 60 s on Java 17), so "back to baseline" cannot mean the
 * raw live count a few seconds after the load. It means: threads that are <em>not</em> parked
 * idle in a pool (their stack is not in {@code ThreadPoolExecutor.getTask}, Jetty's idle job poll
 * or reserved-thread wait, {@code ForkJoinPool.awaitWork}, or OkHttp's task-runner wait) are back
 * to their baseline count within a tolerance of {@value #THREAD_TOLERANCE}, waiting up to {@value
 * #SETTLE_SECONDS} s for exchanges to finish. A thread stuck in a read, a write, a lock or a
 * sleep is counted: that is what a leak looks like. The raw counts are printed too.
 *
 * <p>Not thread-safe: one {@link #run} at a time.
 */
public final class Soak {
  static final int THREAD_TOLERANCE = 2;
  static final int SETTLE_SECONDS = 10;
  private static final Duration CLIENT_READ_TIMEOUT = Duration.ofSeconds(15);
  private static final Pattern CODE = Pattern.compile("\"code\"\\s*:\\s*\"([^\"]+)\"");
  private static final String[] IDLE_FRAMES = {
    "java.util.concurrent.ThreadPoolExecutor.getTask",
    "org.eclipse.jetty.util.thread.QueuedThreadPool$Runner.idleJobPoll",
    "org.eclipse.jetty.util.thread.ReservedThreadExecutor$ReservedThread.reservedWait",
    "org.eclipse.jetty.util.thread.ReservedThreadExecutor$ReservedThread.waitForTask",
    "java.util.concurrent.ForkJoinPool.awaitWork",
    "okhttp3.internal.concurrent.TaskRunner",
    "okio.AsyncTimeout$Watchdog",
  };

  /** The request mix: each kind with its weight, simulator fault, latency, streaming and abort. */
  enum Kind {
    OK_JSON(28, "none", -1, false, RawHttpConnection.Abort.NONE),
    OK_STREAM(14, "none", -1, true, RawHttpConnection.Abort.NONE),
    SLOW_JSON(6, "none", 200, false, RawHttpConnection.Abort.NONE),
    UPSTREAM_5XX(9, "error", -1, false, RawHttpConnection.Abort.NONE),
    UPSTREAM_HTML_5XX(3, "html-error", -1, false, RawHttpConnection.Abort.NONE),
    RATE_LIMITED(7, "rate-limit", -1, false, RawHttpConnection.Abort.NONE),
    JSON_CUT(4, "cut", -1, false, RawHttpConnection.Abort.NONE),
    STREAM_CUT(6, "cut", -1, true, RawHttpConnection.Abort.NONE),
    UPSTREAM_TIMEOUT(4, "timeout", -1, false, RawHttpConnection.Abort.NONE),
    CLIENT_ABORT_WAITING(6, "none", 200, false, RawHttpConnection.Abort.WHILE_WAITING),
    CLIENT_ABORT_STREAM(6, "none", -1, true, RawHttpConnection.Abort.AFTER_FIRST_EVENT),
    STREAM_TIMEOUT(2, "timeout", -1, true, RawHttpConnection.Abort.NONE);

    final int weight;
    final String fault;
    final int latencyMs;
    final boolean stream;
    final RawHttpConnection.Abort abort;

    Kind(int weight, String fault, int latencyMs, boolean stream, RawHttpConnection.Abort abort) {
      this.weight = weight;
      this.fault = fault;
      this.latencyMs = latencyMs;
      this.stream = stream;
      this.abort = abort;
    }

    static Kind pick(SplittableRandom random) {
      int total = 0;
      for (Kind k : values()) {
        total += k.weight;
      }
      int draw = random.nextInt(total);
      for (Kind k : values()) {
        draw -= k.weight;
        if (draw < 0) {
          return k;
        }
      }
      throw new AssertionError();
    }
  }

  /**
   * How big the soak is and how tight the proxy's limits are.
   *
   * @param requests requests the client sends in total
   * @param concurrency client connections sending at once
   * @param seed seed of the request mix (request {@code i} draws from {@code seed + i})
   * @param maxConcurrentRequests the proxy's permits: small, so that some requests are rejected
   * @param maxThinkMillis each client waits a random 0..this many ms before each request; with
   *     the defaults the offered load is a little above what 16 permits serve, so the queue fills
   *     now and then and some requests are rejected, without rejections drowning the rest
   */
  public record Options(int requests, int concurrency, long seed, int maxConcurrentRequests, int maxThinkMillis) {
    public static Options defaults() {
      return new Options(10_000, 64, 42, 16, 200);
    }

    public Options withRequests(int requests) {
      return new Options(requests, concurrency, seed, maxConcurrentRequests, maxThinkMillis);
    }
  }

  /** What the soak saw and which invariants it found broken (none, on success). */
  public record Report(Duration elapsed, long sent, Map<String, Long> clientOutcomes,
      Map<Kind, Map<String, Long>> byKind, RelayStats stats, SimulatorStats simulator, Map<String, String> checks,
      List<String> violations, String threadReport) {
    public boolean passed() {
      return violations.isEmpty();
    }

    /** The outcome counters of {@link RelayStats}, by name. */
    Map<String, Long> proxyOutcomes() {
      Map<String, Long> m = new LinkedHashMap<>();
      m.put("success", stats.success());
      m.put("timeouts", stats.timeouts());
      m.put("connectErrors", stats.connectErrors());
      m.put("upstream4xx", stats.upstream4xx());
      m.put("upstream5xx", stats.upstream5xx());
      m.put("badResponses", stats.badResponses());
      m.put("rejected", stats.rejected());
      m.put("clientCancels", stats.clientCancels());
      m.put("midStreamFailures", stats.midStreamFailures());
      return m;
    }

    public void print(PrintStream out) {
      out.println();
      out.println("SOAK: " + sent + " requests in " + elapsed.toMillis() / 1000.0 + " s");
      Table client = new Table("client saw", "count", "share");
      clientOutcomes.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
          .forEach(e -> client.row(e.getKey(), e.getValue(), Table.fmt(100.0 * e.getValue() / Math.max(1, sent), 1) + " %"));
      out.print(client.render());
      out.println();
      Table proxy = new Table("proxy outcome (RelayStats)", "count");
      proxyOutcomes().forEach(proxy::row);
      proxy.separator();
      proxy.row("sum of outcomes", proxyOutcomes().values().stream().mapToLong(Long::longValue).sum());
      proxy.row("requests", stats.requests());
      proxy.row("retries", stats.retries());
      proxy.row("attempt timeouts", stats.attemptTimeouts());
      proxy.row("attempt connect errors/resets", stats.attemptConnectErrors());
      out.print(proxy.render());
      out.println();
      Table kinds = new Table("request kind", "sent", "what the client got");
      byKind.forEach((kind, outcomes) -> kinds.row(kind.name().toLowerCase(Locale.ROOT),
          outcomes.values().stream().mapToLong(Long::longValue).sum(),
          String.join(", ", outcomes.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
              .map(e -> e.getValue() + " " + e.getKey()).toList())));
      out.print(kinds.render());
      out.println();
      out.println("simulator: " + simulator.totalRequests() + " upstream requests, " + simulator.clientAborts()
          + " aborted by the proxy, " + simulator.activeRequests() + " still open");
      long aborts = clientOutcomes.entrySet().stream().filter(e -> e.getKey().startsWith("client abort"))
          .mapToLong(Map.Entry::getValue).sum();
      out.println("client aborts: " + aborts + " by the client (" + clientOutcomes.getOrDefault("client abort (waiting)", 0L)
          + " while waiting for the answer, " + clientOutcomes.getOrDefault("client abort (mid-stream)", 0L)
          + " mid-stream); the proxy counted " + stats.clientCancels() + " as clientCancels"
          + (stats.clientCancels() < aborts ? " (the others ended as if the client were still there: it was not"
              + " noticed before the answer was complete)" : ""));
      Table checkTable = new Table("invariant", "observed", "verdict");
      checks.forEach((name, observed) -> checkTable.row(name, observed,
          violations.stream().anyMatch(v -> v.startsWith(name)) ? "FAIL" : "ok"));
      out.print(checkTable.render());
      out.println(threadReport);
      out.println(passed() ? "SOAK PASSED" : "SOAK FAILED: " + String.join("; ", violations));
      out.flush();
    }
  }

  private Soak() {}

  /** The proxy's settings for the soak: small limits and short timeouts so every path is hit fast. */
  static Map<String, String> relayEnvironment(Options options, String upstreamBaseUrl) {
    Map<String, String> env = new HashMap<>();
    env.put("RELAY_HOST", Children.HOST);
    env.put("RELAY_PORT", "0");
    env.put("UPSTREAM_BASE_URL", upstreamBaseUrl);
    env.put("MAX_CONCURRENT_REQUESTS", Integer.toString(options.maxConcurrentRequests()));
    env.put("MAX_QUEUED_REQUESTS", Integer.toString(Math.max(1, options.concurrency() * 5 / 8)));
    env.put("MAX_WAIT_SECONDS", "0.25");
    env.put("MAX_ATTEMPTS", "2");
    env.put("ATTEMPT_TIMEOUT_SECONDS", "0.3");
    env.put("RETRY_TIMEOUT_SECONDS", "0.3");
    env.put("STREAM_IDLE_TIMEOUT_SECONDS", "1");
    env.put("CONNECT_TIMEOUT_SECONDS", "2");
    env.put("BACKOFF_INITIAL_MS", "10");
    env.put("BACKOFF_MAX_MS", "20");
    env.put("RETRY_AFTER_MAX_SECONDS", "0.5");
    // One model, one route, one breaker for the whole mix, which is about half healthy: the
    // breaker opens only when 20 attempts in a row fail, and then only briefly. Without this the
    // always-failing kinds would keep it open and turn most of the mix into upstream_circuit_open.
    env.put("BREAKER_FAILURES", "1000");
    env.put("BREAKER_FAILURE_RATE", "100");
    env.put("BREAKER_OPEN_SECONDS", "0.2");
    env.put("HEALTH_INTERVAL_SECONDS", "0");
    env.put("SHUTDOWN_TIMEOUT_SECONDS", "1");
    return env;
  }

  /** Runs the soak and returns its report; prints progress to {@code log}. */
  public static Report run(Options options, PrintStream log) throws Exception {
    SimulatorConfig simulatorConfig = SimulatorConfig.builder()
        .noFaults()
        .latency(Duration.ofMillis(5))
        .streamChunks(6)
        .chunkDelay(Duration.ofMillis(10))
        .timeoutHold(Duration.ofSeconds(5))
        .seed(options.seed())
        .build();
    try (SimulatedUpstream simulator = SimulatedUpstream.start(simulatorConfig)) {
      RunningRelay relay = RelayMain.start(relayEnvironment(options, simulator.baseUrl()), null, false);
      try {
        return run(options, log, relay, simulator);
      } finally {
        relay.close();
      }
    }
  }

  private static Report run(Options options, PrintStream log, RunningRelay relay, SimulatedUpstream simulator)
      throws Exception {
    UpstreamClient client = relay.client();
    Map<String, Integer> baseline = threadCensus();
    int baselineLive = Thread.getAllStackTraces().size();
    URI uri = URI.create(relay.url());
    log.printf(Locale.ROOT, "soak: %d requests, concurrency %d, seed %d, proxy %s (MAX_CONCURRENT_REQUESTS=%d), "
            + "simulator %s; baseline %d threads (%d not idle in a pool)%n",
        options.requests(), options.concurrency(), options.seed(), relay.url(), options.maxConcurrentRequests(),
        simulator.baseUrl(), baselineLive, busy(baseline));

    Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
    Map<Kind, Map<String, LongAdder>> byKind = new EnumMap<>(Kind.class);
    for (Kind k : Kind.values()) {
      byKind.put(k, new ConcurrentHashMap<>());
    }
    AtomicInteger next = new AtomicInteger();
    AtomicLong sent = new AtomicLong();
    AtomicLong unexpected = new AtomicLong();
    List<String> unexpectedSamples = java.util.Collections.synchronizedList(new ArrayList<>());
    ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "soak-abort-timer");
      t.setDaemon(true);
      return t;
    });
    timer.setRemoveOnCancelPolicy(true);
    ExecutorService workers = Executors.newFixedThreadPool(options.concurrency(), new java.util.concurrent.ThreadFactory() {
      private final AtomicInteger n = new AtomicInteger();

      @Override
      public Thread newThread(Runnable r) {
        Thread t = new Thread(r, "soak-client-" + n.incrementAndGet());
        t.setDaemon(true);
        return t;
      }
    });
    long started = System.nanoTime();
    List<Future<?>> futures = new ArrayList<>();
    for (int w = 0; w < options.concurrency(); w++) {
      futures.add(workers.submit(() -> {
        try (RawHttpConnection connection = new RawHttpConnection(uri.getHost(), uri.getPort(), CLIENT_READ_TIMEOUT)) {
          int i;
          while ((i = next.getAndIncrement()) < options.requests()) {
            SplittableRandom random = new SplittableRandom(options.seed() * 1_000_003L + i);
            Kind kind = Kind.pick(random);
            if (options.maxThinkMillis() > 0) {
              Thread.sleep(random.nextInt(options.maxThinkMillis() + 1));
            }
            String outcome = exchange(connection, kind, i, random, timer, sent);
            if (outcome.startsWith("client I/O error")) {
              unexpected.incrementAndGet();
              if (unexpectedSamples.size() < 5) {
                unexpectedSamples.add(kind + ": " + outcome);
              }
            }
            outcomes.computeIfAbsent(outcome, o -> new LongAdder()).increment();
            byKind.get(kind).computeIfAbsent(outcome, o -> new LongAdder()).increment();
            int done = i + 1;
            if (done % Math.max(1000, options.requests() / 10) == 0) {
              log.printf(Locale.ROOT, "soak: %d/%d sent after %.1f s%n", done, options.requests(),
                  (System.nanoTime() - started) / 1e9);
            }
          }
        }
        return null;
      }));
    }
    for (Future<?> f : futures) {
      f.get();
    }
    workers.shutdown();
    workers.awaitTermination(10, TimeUnit.SECONDS);
    timer.shutdownNow();
    timer.awaitTermination(5, TimeUnit.SECONDS);
    Duration elapsed = Duration.ofNanos(System.nanoTime() - started);

    // Settle: cancelled exchanges finish asynchronously; give them a few seconds.
    Map<String, String> checks = new LinkedHashMap<>();
    List<String> violations = new ArrayList<>();
    long total = sent.get();
    int maxPermits = relay.config().maxConcurrentRequests();
    boolean settled = awaitTrue(Duration.ofSeconds(SETTLE_SECONDS), () -> {
      RelayStats now = client.stats();
      return now.requests() >= total && now.permitsAvailable() == maxPermits && now.queued() == 0 && now.inFlight() == 0
          && now.upstreamConnections() == now.idleUpstreamConnections() && simulator.stats().activeRequests() == 0;
    });
    RelayStats stats = client.stats();
    long sumOfOutcomes = stats.success() + stats.timeouts() + stats.connectErrors() + stats.upstream4xx()
        + stats.upstream5xx() + stats.badResponses() + stats.rejected() + stats.clientCancels()
        + stats.midStreamFailures() + stats.internalErrors();
    check(checks, violations, "all permits free", stats.permitsAvailable() + " of " + maxPermits,
        stats.permitsAvailable() == maxPermits);
    check(checks, violations, "nobody queued, nothing in flight", "queued " + stats.queued() + ", inFlight "
        + stats.inFlight(), stats.queued() == 0 && stats.inFlight() == 0);
    int leased = stats.upstreamConnections() - stats.idleUpstreamConnections();
    check(checks, violations, "no leased upstream connection", "leased upstream connections " + leased, leased == 0);
    SimulatorStats simulatorStats = simulator.stats();
    check(checks, violations, "no open upstream exchange", "simulator activeRequests "
        + simulatorStats.activeRequests(), simulatorStats.activeRequests() == 0);
    check(checks, violations, "requests = sum of outcomes", stats.requests() + " = " + sumOfOutcomes,
        stats.requests() == sumOfOutcomes);
    check(checks, violations, "requests = sent by the client", stats.requests() + " = " + total,
        stats.requests() == total);
    check(checks, violations, "every request answered or aborted by the client",
        unexpected.get() + " unexpected client I/O errors" + (unexpectedSamples.isEmpty() ? "" : " " + unexpectedSamples),
        unexpected.get() == 0);

    // Threads: wait until the non-idle count is back to the baseline (exchanges end asynchronously).
    AtomicReference<Map<String, Integer>> census = new AtomicReference<>();
    awaitTrue(Duration.ofSeconds(SETTLE_SECONDS), () -> {
      census.set(threadCensus());
      return busy(census.get()) <= busy(baseline) + THREAD_TOLERANCE;
    });
    Map<String, Integer> afterCensus = census.get();
    int afterLive = Thread.getAllStackTraces().size();
    check(checks, violations, "threads back to baseline", "not idle in a pool: " + busy(baseline) + " before, "
            + busy(afterCensus) + " after (tolerance " + THREAD_TOLERANCE + "); live: " + baselineLive + " before, "
            + afterLive + " after",
        busy(afterCensus) <= busy(baseline) + THREAD_TOLERANCE);
    if (!settled) {
      violations.add("did not settle within " + SETTLE_SECONDS + " s");
    }

    Map<String, Long> clientOutcomes = new TreeMap<>();
    outcomes.forEach((k, v) -> clientOutcomes.put(k, v.sum()));
    Map<Kind, Map<String, Long>> kinds = new EnumMap<>(Kind.class);
    byKind.forEach((k, m) -> {
      Map<String, Long> counts = new TreeMap<>();
      m.forEach((o, v) -> counts.put(o, v.sum()));
      kinds.put(k, counts);
    });
    String threadReport = "threads not idle in a pool, by name (before -> after): " + diff(baseline, afterCensus);
    if (busy(afterCensus) > busy(baseline) + THREAD_TOLERANCE) {
      threadReport += "\n" + stacksOfGrown(baseline, afterCensus);
    }
    return new Report(elapsed, total, clientOutcomes, kinds, stats, simulatorStats, checks, violations, threadReport);
  }

  /** One request of {@code kind}; returns what the client saw, as a short label. */
  private static String exchange(RawHttpConnection connection, Kind kind, int index, SplittableRandom random,
      ScheduledThreadPoolExecutor timer, AtomicLong sent) {
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("X-Request-Id", "soak-" + index);
    headers.put(SimulatedUpstream.FAULT_HEADER, kind.fault);
    if (kind.latencyMs >= 0) {
      headers.put(SimulatedUpstream.LATENCY_HEADER, Integer.toString(kind.latencyMs));
    }
    String body = "{\"model\":\"soak-model\"," + (kind.stream ? "\"stream\":true," : "")
        + "\"messages\":[{\"role\":\"user\",\"content\":\"soak " + index + "\"}]}";
    Duration abortAfter = Duration.ofMillis(1 + random.nextInt(150));
    sent.incrementAndGet();
    RawHttpConnection.Response response;
    try {
      response = connection.post("/v1/chat/completions", headers, body.getBytes(StandardCharsets.UTF_8), kind.abort,
          abortAfter, timer);
    } catch (java.net.SocketTimeoutException e) {
      return "client I/O error: no answer within " + CLIENT_READ_TIMEOUT.toSeconds() + " s";
    } catch (IOException | RuntimeException e) {
      return "client I/O error: " + e.getClass().getSimpleName() + " " + e.getMessage();
    }
    if (response.aborted()) {
      return "client abort" + (response.status() == 0 ? " (waiting)" : " (mid-stream)");
    }
    if (response.status() == 200) {
      if (!response.isStream()) {
        return response.body().contains("\"chat.completion\"") ? "200 json" : "200 json (unexpected body)";
      }
      String b = response.body();
      if (b.contains("upstream_stream_interrupted")) {
        return "200 stream interrupted (error event)";
      }
      return b.contains("data: [DONE]") ? "200 stream complete" : "200 stream without [DONE]";
    }
    Matcher code = CODE.matcher(response.body());
    return response.status() + " " + (code.find() ? code.group(1) : "(no code)");
  }

  private static void check(Map<String, String> checks, List<String> violations, String name, String observed,
      boolean ok) {
    checks.put(name, observed);
    if (!ok) {
      violations.add(name + ": " + observed);
    }
  }

  private static boolean awaitTrue(Duration timeout, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (condition.getAsBoolean()) {
        return true;
      }
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(50);
    }
  }

  /** Live platform threads that are not parked idle in a pool, counted by name (digits removed). */
  static Map<String, Integer> threadCensus() {
    Map<String, Integer> census = new TreeMap<>();
    for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
      if (!e.getKey().isAlive() || idleInPool(e.getValue())) {
        continue;
      }
      census.merge(e.getKey().getName().replaceAll("\\d+", "#"), 1, Integer::sum);
    }
    return census;
  }

  static boolean idleInPool(StackTraceElement[] stack) {
    for (StackTraceElement frame : stack) {
      String name = frame.getClassName() + "." + frame.getMethodName();
      for (String idle : IDLE_FRAMES) {
        if (name.startsWith(idle)) {
          return true;
        }
      }
    }
    return false;
  }

  /** The top frames of the non-idle threads whose name group grew: what a leak is doing. */
  private static String stacksOfGrown(Map<String, Integer> before, Map<String, Integer> after) {
    StringBuilder out = new StringBuilder();
    for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
      String key = e.getKey().getName().replaceAll("\\d+", "#");
      if (idleInPool(e.getValue()) || after.getOrDefault(key, 0) <= before.getOrDefault(key, 0)) {
        continue;
      }
      out.append("  ").append(e.getKey().getName()).append(" (").append(e.getKey().getState()).append(")\n");
      for (int i = 0; i < Math.min(8, e.getValue().length); i++) {
        out.append("      at ").append(e.getValue()[i]).append('\n');
      }
    }
    return out.toString();
  }

  private static int busy(Map<String, Integer> census) {
    return census.values().stream().mapToInt(Integer::intValue).sum();
  }

  private static String diff(Map<String, Integer> before, Map<String, Integer> after) {
    Map<String, String> d = new TreeMap<>();
    for (String name : before.keySet()) {
      d.put(name, before.get(name) + "->" + after.getOrDefault(name, 0));
    }
    for (String name : after.keySet()) {
      d.putIfAbsent(name, "0->" + after.get(name));
    }
    return d.toString();
  }
}
