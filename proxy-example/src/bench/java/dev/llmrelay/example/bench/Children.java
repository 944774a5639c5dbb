package dev.llmrelay.example.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The processes the benchmark starts (nginx, proxy JVMs, wrk, jcmd), and the small helpers that
 * wait for them. Every process started here is stopped by {@link #stop} or, if the benchmark is
 * interrupted (Ctrl-C, SIGTERM, an exception), by a shutdown hook: the benchmark never leaves a
 * server running. Processes are stopped by their own handle (their pid), never by name.
 *
 * <p>Thread-safe.
 */
final class Children {
  /** The only address the benchmark listens on or connects to. */
  static final String HOST = "127.0.0.1";

  private static final Set<Process> running = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(Children::stopAll, "bench-children-stop"));
  }

  private Children() {}

  /**
   * Empties the child's environment but for {@code PATH}, {@code HOME}, {@code LANG} and {@code
   * TZ}, so that nothing of the caller's (an API key, a stray relay setting) reaches it; returns
   * the environment to fill.
   */
  static java.util.Map<String, String> cleanEnvironment(ProcessBuilder builder) {
    java.util.Map<String, String> env = builder.environment();
    java.util.Map<String, String> keep = new java.util.LinkedHashMap<>();
    for (String name : List.of("PATH", "HOME", "LANG", "TZ")) {
      if (System.getenv(name) != null) {
        keep.put(name, System.getenv(name));
      }
    }
    env.clear();
    env.putAll(keep);
    return env;
  }

  /**
   * Starts a server child and waits (at most 60 s) until {@code healthUrl} answers 200; stops it
   * again if it does not.
   */
  static Process startServing(ProcessBuilder builder, String healthUrl, Path log) {
    Process process = start(builder);
    try {
      awaitHttpOk(healthUrl, process, Duration.ofSeconds(60), log);
    } catch (RuntimeException e) {
      stop(process, Duration.ofSeconds(10));
      throw e;
    }
    return process;
  }

  static Process start(ProcessBuilder builder) {
    try {
      Process process = builder.start();
      running.add(process);
      return process;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + builder.command(), e);
    }
  }

  /** SIGTERM, then SIGKILL after {@code grace}; waits until the process (and its children) ended. */
  static void stop(Process process, Duration grace) {
    if (process == null) {
      return;
    }
    List<ProcessHandle> descendants = process.descendants().toList();
    process.destroy();
    try {
      if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    for (ProcessHandle child : descendants) {
      if (child.isAlive()) {
        child.destroyForcibly();
      }
    }
    running.remove(process);
  }

  private static void stopAll() {
    for (Process process : running) {
      stop(process, Duration.ofSeconds(3));
    }
  }

  /** A port that was free a moment ago on {@link #HOST}. */
  static int freePort() {
    try (ServerSocket socket = new ServerSocket()) {
      socket.setReuseAddress(true);
      socket.bind(new InetSocketAddress(HOST, 0));
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Waits until {@code url} answers 200, failing early when {@code process} died. */
  static void awaitHttpOk(String url, Process process, Duration timeout, Path log) {
    long deadline = System.nanoTime() + timeout.toNanos();
    String last = "no answer";
    while (System.nanoTime() < deadline) {
      if (process != null && !process.isAlive()) {
        throw new IllegalStateException("process exited with " + process.exitValue() + " before "
            + url + " answered; log tail:\n" + tail(log, 30));
      }
      try {
        HttpURLConnection connection = (HttpURLConnection) URI.create(url).toURL().openConnection();
        connection.setConnectTimeout(500);
        connection.setReadTimeout(2000);
        int status = connection.getResponseCode();
        connection.getInputStream().readAllBytes();
        connection.disconnect();
        if (status == 200) {
          return;
        }
        last = "HTTP " + status;
      } catch (IOException e) {
        last = e.toString();
      }
      sleep(Duration.ofMillis(100));
    }
    throw new IllegalStateException(url + " did not answer 200 within " + timeout + " (" + last
        + "); log tail:\n" + tail(log, 30));
  }

  /** Waits until something accepts connections on {@code port}. */
  static void awaitPort(int port, Process process, Duration timeout, Path log) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (process != null && !process.isAlive()) {
        throw new IllegalStateException("process exited with " + process.exitValue()
            + " before listening on " + port + "; log tail:\n" + tail(log, 30));
      }
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(HOST, port), 500);
        return;
      } catch (IOException e) {
        sleep(Duration.ofMillis(50));
      }
    }
    throw new IllegalStateException("nothing listens on " + port + " after " + timeout
        + "; log tail:\n" + tail(log, 30));
  }

  /** Runs a short command to completion and returns its output (stdout and stderr). */
  static String run(Duration timeout, String... command) {
    try {
      Process process = start(new ProcessBuilder(command).redirectErrorStream(true));
      byte[] out = process.getInputStream().readAllBytes();
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        stop(process, Duration.ofSeconds(1));
      }
      running.remove(process);
      return new String(out, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "error: " + e;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  static String tail(Path log, int lines) {
    if (log == null || !Files.exists(log)) {
      return "(no log)";
    }
    try {
      List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException | RuntimeException e) {
      return "(unreadable log: " + e + ")";
    }
  }

  static void sleep(Duration duration) {
    try {
      Thread.sleep(duration.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** The first existing executable among {@code candidates} and the directories of PATH. */
  static Path which(String name, String... candidates) {
    for (String candidate : candidates) {
      Path path = Path.of(candidate);
      if (Files.isExecutable(path)) {
        return path;
      }
    }
    String pathVariable = System.getenv("PATH");
    if (pathVariable != null) {
      for (String dir : pathVariable.split(":")) {
        Path path = Path.of(dir, name);
        if (!dir.isEmpty() && Files.isExecutable(path)) {
          return path;
        }
      }
    }
    return null;
  }
}
