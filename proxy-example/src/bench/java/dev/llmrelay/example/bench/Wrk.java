package dev.llmrelay.example.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs Debian's {@code wrk} (closed loop: each connection sends its next request when the
 * previous answer arrived) with a small Lua script that makes every request a {@code POST
 * /v1/chat/completions} with a JSON body, and parses its report. wrk's latency percentiles suffer
 * from coordinated omission (a stalled server delays the next sends instead of their latency
 * being counted), so the throughput mode reports them for information only; the latency mode uses
 * the open-loop {@link OpenLoop} instead.
 *
 * <p>Stateless and thread-safe.
 */
final class Wrk {
  static final String PATH = "/v1/chat/completions";
  static final String BODY = "{\"model\":\"bench-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}";

  private Wrk() {}

  /** One wrk run. Latencies in milliseconds. */
  record Result(double requestsPerSecond, long requests, double p50Ms, double p99Ms, long socketErrors,
      long non2xx) {}

  static Path find() {
    return Children.which("wrk", "/usr/bin/wrk");
  }

  static String version(Path wrk) {
    String out = Children.run(Duration.ofSeconds(5), wrk.toString(), "-v");
    return out.lines().findFirst().orElse("wrk").trim();
  }

  /** Writes the POST script into {@code dir}. */
  static Path writeScript(Path dir) {
    Path script = dir.resolve("post.lua");
    try {
      Files.writeString(script, "wrk.method = \"POST\"\n"
          + "wrk.body = '" + BODY + "'\n"
          + "wrk.headers[\"Content-Type\"] = \"application/json\"\n");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return script;
  }

  static Result run(Path wrk, Path script, String baseUrl, int threads, int connections, Duration duration) {
    String out = Children.run(duration.plusSeconds(30), wrk.toString(), "-t" + threads, "-c" + connections,
        "-d" + duration.toSeconds() + "s", "--latency", "-s", script.toString(), baseUrl + PATH);
    double rps = number(out, "Requests/sec:\\s+([0-9.]+)");
    if (Double.isNaN(rps)) {
      throw new IllegalStateException("cannot parse wrk output:\n" + out);
    }
    long requests = (long) number(out, "(\\d+) requests in");
    double p50 = latency(out, "50%");
    double p99 = latency(out, "99%");
    long socketErrors = 0;
    Matcher errors = Pattern.compile("Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)").matcher(out);
    if (errors.find()) {
      for (int i = 1; i <= 4; i++) {
        socketErrors += Long.parseLong(errors.group(i));
      }
    }
    double non2xx = number(out, "Non-2xx or 3xx responses: (\\d+)");
    return new Result(rps, requests, p50, p99, socketErrors, Double.isNaN(non2xx) ? 0 : (long) non2xx);
  }

  private static double number(String out, String regex) {
    Matcher m = Pattern.compile(regex).matcher(out);
    return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
  }

  /** A line of wrk's "Latency Distribution", e.g. {@code 99%   11.53ms}, in milliseconds. */
  private static double latency(String out, String percentile) {
    Matcher m = Pattern.compile("\\s" + Pattern.quote(percentile) + "\\s+([0-9.]+)(us|ms|s|m)\\b").matcher(out);
    if (!m.find()) {
      return Double.NaN;
    }
    double value = Double.parseDouble(m.group(1));
    return switch (m.group(2).toLowerCase(Locale.ROOT)) {
      case "us" -> value / 1000;
      case "ms" -> value;
      case "s" -> value * 1000;
      default -> value * 60_000;
    };
  }
}
