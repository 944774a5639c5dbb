package dev.llmrelay.example.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * An nginx started by the benchmark, in the foreground ({@code daemon off}) with its own
 * configuration, pid file, logs and temp directories inside the run's temp directory, listening
 * on 127.0.0.1 only. It never touches the system's nginx configuration or service. Two roles:
 *
 * <ul>
 *   <li>{@link #upstream}: the fast upstream, {@code return 200 '<chat.completion>'} with {@code
 *       default_type application/json}, one worker, no access log;
 *   <li>{@link #proxy}: the reference hop, a plain reverse proxy to an upstream with a keep-alive
 *       upstream pool ({@code keepalive 64}, HTTP/1.1, {@code Connection ""}), no access log, and
 *       {@code proxy_buffering off} for streams (so events are passed on as they arrive).
 * </ul>
 *
 * <p>CPU and memory are measured over the master and its workers together ({@link #pids()}).
 * Not thread-safe; close it to stop (SIGTERM to the master, a fast shutdown).
 */
final class NginxServer implements AutoCloseable {
  private final Process process;
  private final int port;
  private final Path log;
  private final String description;

  private NginxServer(Path binary, Path dir, String name, String serverBlock, String extraHttp, String workers,
      String description) {
    Path home = dir.resolve(name);
    this.port = Children.freePort();
    this.log = home.resolve("error.log");
    this.description = description;
    String conf = "daemon off;\n"
        + "master_process on;\n"
        + "worker_processes " + workers + ";\n"
        + "pid " + home.resolve("nginx.pid") + ";\n"
        + "error_log " + log + " warn;\n"
        + "worker_rlimit_nofile 20000;\n"
        + "events { worker_connections 16384; multi_accept on; }\n"
        + "http {\n"
        + "  access_log off;\n"
        + "  client_body_temp_path " + home.resolve("client_body") + ";\n"
        + "  proxy_temp_path " + home.resolve("proxy") + ";\n"
        + "  fastcgi_temp_path " + home.resolve("fastcgi") + ";\n"
        + "  uwsgi_temp_path " + home.resolve("uwsgi") + ";\n"
        + "  scgi_temp_path " + home.resolve("scgi") + ";\n"
        + "  keepalive_requests 1000000;\n"
        + "  keepalive_timeout 300s;\n"
        + extraHttp
        + "  server {\n"
        + "    listen " + Children.HOST + ":" + port + " backlog=8192;\n"
        + serverBlock
        + "  }\n"
        + "}\n";
    try {
      Files.createDirectories(home);
      Files.writeString(home.resolve("nginx.conf"), conf);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    process = Children.start(new ProcessBuilder(binary.toString(), "-p", home.toString(), "-c",
        home.resolve("nginx.conf").toString(), "-e", log.toString())
        .redirectErrorStream(true)
        .redirectOutput(home.resolve("stdout.log").toFile()));
    try {
      Children.awaitPort(port, process, Duration.ofSeconds(10), log);
      // Workers start just after the master binds; wait until they exist so pids() sees them.
      Children.sleep(Duration.ofMillis(300));
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  /** nginx as the fast upstream: the fixed {@code chat.completion} for every request. */
  static NginxServer upstream(Path binary, Path dir) {
    String body = FastUpstream.CHAT_COMPLETION.replace("'", "\\'");
    return new NginxServer(binary, dir, "nginx-upstream",
        "    location / {\n      default_type application/json;\n      return 200 '" + body + "';\n    }\n",
        "", "1", "nginx (1 worker): return 200 with a fixed chat.completion JSON");
  }

  /** nginx as a reverse proxy to {@code upstreamPort} on 127.0.0.1. */
  static NginxServer proxy(Path binary, Path dir, int upstreamPort, boolean buffering, String workers) {
    String extra = "  upstream backend {\n    server " + Children.HOST + ":" + upstreamPort + ";\n"
        + "    keepalive 64;\n    keepalive_requests 1000000;\n    keepalive_timeout 300s;\n  }\n";
    String location = "    location / {\n"
        + "      proxy_pass http://backend;\n"
        + "      proxy_http_version 1.1;\n"
        + "      proxy_set_header Connection \"\";\n"
        + "      proxy_buffering " + (buffering ? "on" : "off") + ";\n"
        + "      proxy_read_timeout 300s;\n"
        + "    }\n";
    return new NginxServer(binary, dir, "nginx-proxy-" + upstreamPort, location, extra, workers,
        "nginx reverse proxy (worker_processes " + workers + ", upstream keepalive 64, proxy_buffering "
            + (buffering ? "on" : "off") + ")");
  }

  /** The nginx binary: {@code override}, else {@code /usr/sbin/nginx} or PATH; null when absent. */
  static Path find(String override) {
    if (override != null) {
      return Files.isExecutable(Path.of(override)) ? Path.of(override) : null;
    }
    return Children.which("nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx");
  }

  static String version(Path binary) {
    return Children.run(Duration.ofSeconds(5), binary.toString(), "-v").trim();
  }

  int port() {
    return port;
  }

  String url() {
    return "http://" + Children.HOST + ":" + port;
  }

  String description() {
    return description;
  }

  /** The master and its workers. */
  List<Long> pids() {
    return ProcStats.withChildren(process.pid());
  }

  @Override
  public void close() {
    Children.stop(process, Duration.ofSeconds(5));
  }
}
