package dev.llmrelay.example.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@link BarePassThrough} in a JVM of its own, started like {@link ProxyProcess}: {@code java
 * <flags> -cp <the benchmark's class path> dev.llmrelay.example.bench.BarePassThrough PORT UPSTREAM}, in a directory
 * of its own under the run's temp dir, with a clean environment ({@code PATH}, {@code HOME}, {@code
 * LANG}, {@code TZ}) and its output in a log file. Ready once {@code GET /health} answers 200.
 *
 * <p>Not thread-safe; close it to stop (SIGTERM; SIGKILL after ten seconds).
 */
final class BareProcess implements AutoCloseable {
  private final Process process;
  private final int port;
  private final Path log;
  private final List<String> jvmFlags;

  /**
   * @param java the java binary (the proxy's, {@code --java})
   * @param jvmFlags the JVM flags (the first proxy variant's, for a fair comparison)
   * @param upstreamRoot {@code http://127.0.0.1:PORT}; the request path is appended as is
   */
  BareProcess(Path java, List<String> jvmFlags, Path dir, String upstreamRoot) {
    this.jvmFlags = List.copyOf(jvmFlags);
    this.port = Children.freePort();
    Path home = dir.resolve("bare-" + port);
    this.log = home.resolve("bare.log");
    try {
      Files.createDirectories(home);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> command = new ArrayList<>();
    command.add(java.toString());
    command.addAll(jvmFlags);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(BarePassThrough.class.getName());
    command.add(Integer.toString(port));
    command.add(upstreamRoot);
    ProcessBuilder builder = new ProcessBuilder(command)
        .directory(home.toFile())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    Children.cleanEnvironment(builder);
    process = Children.startServing(builder, url() + "/health", log);
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

  String flagsText() {
    return jvmFlags.isEmpty() ? "(JVM defaults)" : String.join(" ", jvmFlags);
  }

  @Override
  public void close() {
    Children.stop(process, Duration.ofSeconds(10));
  }
}
