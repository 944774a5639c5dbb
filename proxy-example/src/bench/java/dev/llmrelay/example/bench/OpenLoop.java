package dev.llmrelay.example.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * An open-loop load generator: request {@code i} is due at {@code start + i / rate}, whatever
 * happened to the earlier ones, and its latency is measured from that <em>due</em> time, not from
 * the moment it was actually sent.
 *
 * <p>Why: a closed-loop tool (wrk, or N threads each waiting for its answer) stops sending while
 * the server stalls, so the requests that <em>would</em> have arrived during the stall are never
 * measured, and a 200 ms pause shows up as one slow request instead of forty. That is coordinated
 * omission. Here the schedule is fixed in advance and sends are asynchronous ({@link
 * HttpClient#sendAsync}), so a stall of the target never delays later sends; and if the sender
 * itself falls behind (a GC pause in this JVM, a busy core), the latency of each late request
 * still starts at its due time, so that lag is charged to the measurement instead of silently
 * dropped. The lag is also reported ({@link Result#maxSendLagMs()}), so a run whose generator
 * could not keep up is visible as such. This is the same correction wrk2 applies; Debian has no
 * wrk2 package.
 *
 * <p>One scheduling thread parks until each due time ({@link LockSupport#parkNanos}, typically
 * 50-100 µs late on Linux, which every target pays equally). Responses complete on the {@link
 * HttpClient}'s executor. Not thread-safe: one run at a time per instance.
 */
final class OpenLoop {
  private OpenLoop() {}

  /**
   * @param latency latencies of the 200 answers, from due time to the last body byte
   * @param maxSendLagMs the latest a request was sent after its due time
   * @param failures why requests failed: {@code HTTP <status>} or the exception, with counts
   */
  record Result(Samples latency, long sent, long ok, long failed, double maxSendLagMs, Map<String, Long> failures) {}

  static Result run(HttpClient client, URI uri, byte[] body, double ratePerSecond, Duration duration) {
    long interval = (long) (TimeUnit.SECONDS.toNanos(1) / ratePerSecond);
    int count = (int) Math.max(1, duration.toNanos() / interval);
    HttpRequest request = HttpRequest.newBuilder(uri)
        .timeout(Duration.ofSeconds(30))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofByteArray(body))
        .build();
    Samples latency = new Samples();
    AtomicLong ok = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    Map<String, Long> failures = new ConcurrentHashMap<>();
    CountDownLatch finished = new CountDownLatch(count);
    long maxLag = 0;
    long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5);
    for (int i = 0; i < count; i++) {
      long due = start + i * interval;
      long wait;
      while ((wait = due - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait);
      }
      maxLag = Math.max(maxLag, System.nanoTime() - due);
      client.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()).whenComplete((response, error) -> {
        long end = System.nanoTime();
        if (error == null && response.statusCode() == 200) {
          latency.add(end - due);
          ok.incrementAndGet();
        } else {
          failed.incrementAndGet();
          String why = error != null ? rootCause(error) : "HTTP " + response.statusCode() + " "
              + new String(response.body(), StandardCharsets.UTF_8).replaceAll("\\s+", " ")
                  .substring(0, Math.min(160, response.body().length));
          failures.merge(why, 1L, Long::sum);
        }
        finished.countDown();
      });
    }
    try {
      if (!finished.await(60, TimeUnit.SECONDS)) {
        failed.addAndGet(finished.getCount());
        failures.merge("no answer within 60 s after the last send", finished.getCount(), Long::sum);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return new Result(latency, count, ok.get(), failed.get(), maxLag / 1e6, new TreeMap<>(failures));
  }

  private static String rootCause(Throwable error) {
    Throwable cause = error;
    while (cause.getCause() != null && cause.getCause() != cause) {
      cause = cause.getCause();
    }
    return cause.getClass().getSimpleName() + (cause.getMessage() == null ? "" : ": " + cause.getMessage());
  }
}
