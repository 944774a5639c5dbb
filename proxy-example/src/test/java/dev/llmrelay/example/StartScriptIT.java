package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher as users start it: the built {@code target/llmrelay} script, with the java of this
 * JVM as {@code JAVA_HOME}, {@code --simulate}, in a directory of its own. Its process is the JVM
 * (exec), with the script's default flags, serving /health and /metrics; SIGTERM stops it
 * gracefully.
 */
class StartScriptIT {
  @TempDir Path workDir;

  @Test
  void theScriptStartsTheJvmWithItsDefaultsAndSigtermStopsItGracefully() throws Exception {
    Path script = ProductJarIT.builtJar().resolveSibling("llmrelay");
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    Path log = workDir.resolve("llmrelay.log");
    ProcessBuilder builder = new ProcessBuilder(script.toString(), "--simulate")
        .directory(workDir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    builder.environment().keySet().removeIf(name -> name.endsWith("JAVA_OPTS") || name.startsWith("RELAY_")
        || name.startsWith("UPSTREAM_"));
    builder.environment().put("JAVA_HOME", System.getProperty("java.home"));
    builder.environment().put("RELAY_PORT", Integer.toString(port));
    builder.environment().put("HEALTH_INTERVAL_SECONDS", "0");
    Process process = builder.start();
    try {
      HttpClient http = HttpClient.newHttpClient();
      String base = "http://127.0.0.1:" + port;
      Awaitility.await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
          .ignoreExceptions()
          .until(() -> http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
              HttpResponse.BodyHandlers.discarding()).statusCode() == 200);

      List<String> commandLine = List.of(Files.readString(Path.of("/proc/" + process.pid() + "/cmdline"),
          StandardCharsets.UTF_8).split("\0"));
      assertThat(Path.of(commandLine.get(0))).as("the script's process became the JVM (exec)")
          .isEqualTo(Path.of(System.getProperty("java.home"), "bin", "java"));
      assertThat(commandLine).containsSubsequence("-XX:+UseSerialGC", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError",
          "-jar", script.resolveSibling("llmrelay.jar").toRealPath().toString(), "--simulate");
      HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics"))
          .header("Accept", "application/openmetrics-text; version=1.0.0").build(), HttpResponse.BodyHandlers.ofString());
      assertThat(metrics.body()).contains("llmrelay_permits_available").endsWith("# EOF\n");

      process.destroy(); // SIGTERM, to the JVM itself
      assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("stopped after SIGTERM").isTrue();
      assertThat(Files.readString(log)).as("graceful stop logged").contains("llmrelay stopped");
    } finally {
      process.destroyForcibly();
    }
  }
}
