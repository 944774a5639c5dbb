package dev.llmrelay.example;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.metrics.MicrometerMetrics;
import dev.llmrelay.example.simulate.SimulatedUpstream;
import dev.llmrelay.example.simulate.SimulatorConfig;
import dev.llmrelay.servlet.HealthServlet;
import dev.llmrelay.servlet.RelayServlet;
import dev.llmrelay.servlet.RelayVariables;
import dev.llmrelay.core.shared.SharedStateConfig;
import dev.llmrelay.core.metrics.SharedStateMetrics;
import dev.llmrelay.core.jobs.JobsConfig;
import dev.llmrelay.core.jobs.RelayJobs;
import dev.llmrelay.core.metrics.JobMetrics;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.jetty.JettyConnectionMetrics;
import io.micrometer.core.instrument.binder.jetty.JettyServerThreadPoolMetrics;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.VirtualThreads;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The runnable llmrelay: reads {@link RelayConfig} from the environment and a {@code .env} file in
 * the working directory, starts Jetty 12 on {@code RELAY_HOST:RELAY_PORT} and mounts the relay, the
 * health servlets and {@code GET /metrics} (Prometheus text: the relay's meters, the upstream
 * connection pool, Jetty and the JVM). Durable jobs ({@code Prefer: respond-async}, {@code
 * /v1/relay/jobs}) are on by default, stored in {@code JOB_STORE_URL} (default a SQLite file {@code
 * ./llmrelay-data/jobs.db}, created on first start); a store that cannot be used stops the start with
 * a message naming it. {@code --simulate} (or {@code UPSTREAM_BASE_URL=simulate}) starts an in-process
 * OpenAI-compatible upstream first, so the proxy runs with no key and no network.
 *
 * <p>On SIGTERM or Ctrl-C it stops accepting, lets in-flight requests finish for at most {@code
 * SHUTDOWN_TIMEOUT_SECONDS} (default 30), then answers what is left (503 {@code relay_closed}, or
 * the in-band error event in a stream under way) and releases everything ({@link RunningRelay#close()}).
 */
public final class RelayMain {
  private static final Logger log = LoggerFactory.getLogger(RelayMain.class);

  /** Default for {@code SHUTDOWN_TIMEOUT_SECONDS}. */
  public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = LauncherSettings.DEFAULT_SHUTDOWN_TIMEOUT;

  private RelayMain() {}

  /**
   * Starts the proxy and blocks until the JVM is asked to stop.
   *
   * @param args {@code --simulate} to start the simulated upstream; {@code --help}
   */
  public static void main(String[] args) throws Exception {
    List<String> flags = Arrays.asList(args);
    if (flags.contains("--help") || flags.contains("-h")) {
      System.out.println(
          "usage: java -jar llmrelay.jar [--simulate]\n"
              + "Configuration comes from environment variables and ./.env (see README.md).\n"
              + "--simulate  answer from an in-process simulated upstream (no key, no network)");
      return;
    }
    for (String flag : flags) {
      if (!flag.equals("--simulate")) {
        System.err.println("unknown argument: " + flag + " (try --help)");
        System.exit(64);
      }
    }
    RunningRelay relay;
    try {
      relay = start(System.getenv(), Path.of(".env"), flags.contains("--simulate"));
    } catch (IllegalArgumentException | IllegalStateException e) {
      log.error("llmrelay did not start: {}", e.getMessage());
      System.exit(2);
      return;
    }
    // From here on the request log writes a line per request: buffer them (BufferedConsole). The
    // hook is registered first, so a SIGTERM at any point still closes the relay and flushes.
    RunningRelay running = relay;
    java.util.concurrent.atomic.AtomicReference<BufferedConsole> console = new java.util.concurrent.atomic.AtomicReference<>();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        running.close();
      } finally {
        BufferedConsole c = console.get();
        if (c != null) {
          c.close();
        }
      }
    }, "llmrelay-shutdown"));
    console.set(BufferedConsole.install(Duration.ofMillis(100)));
    relay.join();
  }

  /**
   * Starts the proxy (and, when asked, the simulated upstream) and returns at once.
   *
   * @param environment the environment variables
   * @param dotenvFile a {@code .env} file supplying what the environment lacks; may be absent
   * @param simulate start the simulated upstream and point the proxy at it
   * @return the running proxy; close it to stop
   * @throws IllegalArgumentException for an invalid setting (the message names it)
   * @throws IllegalStateException when the configuration is unsafe (an upstream key on a
   *     non-loopback address without {@code RELAY_API_KEYS})
   */
  public static RunningRelay start(Map<String, String> environment, Path dotenvFile, boolean simulate)
      throws Exception {
    Map<String, String> vars = RelayVariables.fromEnvironment(environment, dotenvFile);
    AutoCloseable simulator = null;
    if (simulate || "simulate".equalsIgnoreCase(vars.getOrDefault("UPSTREAM_BASE_URL", "").trim())) {
      SimulatedUpstream simulation = SimulatedUpstream.start(SimulatorConfig.fromEnvironment(vars));
      simulator = simulation;
      vars.put("UPSTREAM_BASE_URL", simulation.baseUrl());
    }
    try {
      RelayConfig config = RelayConfig.fromEnvironment(vars);
      SharedStateConfig shared = SharedStateConfig.fromEnvironment(vars);
      JobsConfig jobs = JobsConfig.fromEnvironment(vars, config.maxConcurrentRequests());
      LauncherSettings settings = LauncherSettings.fromVariables(vars);
      checkSafeBind(config, settings);
      return launch(config, shared, jobs, settings, simulator);
    } catch (Exception | Error e) {
      if (simulator != null) {
        simulator.close();
      }
      throw e;
    }
  }

  /**
   * Refuses a configuration that would open a paid upstream key to the network: with an upstream
   * key, a non-loopback bind needs inbound keys.
   */
  static void checkSafeBind(RelayConfig config, LauncherSettings settings) {
    if (config.upstreamApiKey().isEmpty() || !settings.proxyKeys().isEmpty()) {
      return;
    }
    boolean loopback;
    try {
      InetAddress[] addresses = InetAddress.getAllByName(settings.host());
      loopback = Stream.of(addresses).allMatch(InetAddress::isLoopbackAddress);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("Invalid RELAY_HOST=" + settings.host() + ": unknown host");
    }
    if (!loopback) {
      throw new IllegalStateException(
          "Refusing to listen on "
              + settings.host()
              + " with UPSTREAM_API_KEY set and no RELAY_API_KEYS: anyone who can reach this port "
              + "would spend your key. Set RELAY_API_KEYS, or bind RELAY_HOST=127.0.0.1.");
    }
  }

  private static RunningRelay launch(
      RelayConfig config, SharedStateConfig shared, JobsConfig jobsConfig, LauncherSettings settings,
      AutoCloseable simulator)
      throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    bindJvmMetrics(registry);
    // HTTP/1.1 only, uncapped virtual threads and a disconnect watch (ClientDisconnectHandler): an
    // exchange may run on the request's own virtual thread (RelayServlet#executeOnVirtualThreads).
    UpstreamClient client = UpstreamClient.builder(config)
        .listener(new MicrometerMetrics(registry))
        .sharedState(shared)
        .build();
    new SharedStateMetrics(client).bindTo(registry);
    RelayJobs jobs = null;
    if (jobsConfig.enabled()) {
      try {
        jobs = RelayJobs.start(client, jobsConfig); // names the store when its driver is missing or it is unreachable
      } catch (RuntimeException e) {
        client.close();
        throw new IllegalStateException(e.getMessage() + " (set JOB_STORE_URL, or JOBS_ENABLED=false)", e);
      }
      new JobMetrics(jobs).bindTo(registry);
    }
    if (shared.enabled()) {
      log.info("sharing a global limit of {} requests in flight through {} as {} (when it is down: {})",
          shared.maxConcurrentRequests(), dev.llmrelay.core.RelayConfig.redactUrl(shared.url().orElseThrow()),
          shared.instanceId(), shared.failureMode().name().toLowerCase(java.util.Locale.ROOT));
    }
    QueuedThreadPool threads = new QueuedThreadPool(200, 8);
    threads.setName("llmrelay-http");
    if (VirtualThreads.areSupported()) {
      // Jetty keeps platform threads for its selectors; servlet code runs on virtual threads.
      threads.setVirtualThreadsExecutor(VirtualThreads.getNamedVirtualThreadsExecutor("llmrelay-http-vt-"));
    }
    Server server = new Server(threads);
    ServerConnector connector = new ServerConnector(server, new UpgradeIgnoringHttpConnectionFactory());
    connector.setHost(settings.host());
    connector.setPort(settings.port());
    // Longer than any legal silence: the relay owns every timeout, the connector must not fire first.
    connector.setIdleTimeout(connectorIdleTimeout(config).toMillis());
    server.addConnector(connector);
    new JettyServerThreadPoolMetrics(threads, Tags.empty()).bindTo(registry);
    JettyConnectionMetrics.addToAllConnectors(server, registry);

    ServletContextHandler context = new ServletContextHandler("/");
    ServletHolder relay = new ServletHolder("relay",
        new RelayServlet(client).proxyKeys(settings.proxyKeys()).executeOnVirtualThreads(true).jobs(jobs));
    relay.setAsyncSupported(true);
    context.addServlet(relay, "/");
    ServletHolder health = new ServletHolder("health", new HealthServlet(client));
    health.setAsyncSupported(true);
    context.addServlet(health, "/health");
    context.addServlet(health, "/health/upstream");
    context.addServlet(new ServletHolder("metrics", new MetricsServlet(registry)), "/metrics");

    // Tells the relay servlet about clients that leave before their response starts (issue 11).
    server.setHandler(new GracefulHandler(new ClientDisconnectHandler(context)));
    // Every response is the proxy's: one X-Request-Id on each, JSON for the container's errors.
    server.insertHandler(new RequestIdHandler());
    JsonErrorHandler containerErrors = new JsonErrorHandler();
    server.setErrorHandler(containerErrors);
    context.setErrorHandler(containerErrors);
    server.setStopAtShutdown(false); // RunningRelay.close() orders the shutdown (the hook calls it)
    try {
      server.start();
    } catch (Exception e) {
      if (jobs != null) {
        jobs.close();
      }
      client.close();
      throw new IllegalStateException(
          "cannot listen on " + settings.host() + ":" + settings.port() + ": " + e.getMessage(), e);
    }
    RunningRelay running = new RunningRelay(server, connector, client, jobs, simulator, config, settings);
    log.info(
        "llmrelay listening on {} (Java {}, {} threads) -> {}",
        running.url(),
        Runtime.version().feature(),
        VirtualThreads.areSupported() ? "virtual" : "platform",
        LogSafeUrl.of(config.upstreamBaseUrl()));
    if (jobs != null) {
      log.info("jobs on: Prefer: respond-async and {}/v1/relay/jobs, stored in {}", running.url(),
          dev.llmrelay.core.RelayConfig.redactUrl(jobsConfig.storeUrl()));
    } else {
      log.info("jobs off (JOBS_ENABLED=false): Prefer: respond-async is served synchronously");
    }
    log.info("effective configuration: {}, {}", settings, config);
    return running;
  }

  private static void bindJvmMetrics(PrometheusMeterRegistry registry) {
    new ClassLoaderMetrics().bindTo(registry);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry); // lives as long as the process
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
  }

  static Duration connectorIdleTimeout(RelayConfig config) {
    Duration longest = config.attemptTimeout();
    for (Duration d : List.of(config.retryTimeout(), config.streamIdleTimeout(), config.maxWait())) {
      if (d.compareTo(longest) > 0) {
        longest = d;
      }
    }
    return longest.plusSeconds(30);
  }
}
