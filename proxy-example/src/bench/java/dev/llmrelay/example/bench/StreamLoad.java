package dev.llmrelay.example.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Starts SSE streams at a fixed rate (open loop, like {@link OpenLoop}: stream {@code i} is due at
 * {@code start + i / rate}) through {@link HttpClient#sendAsync} with a line subscriber, and
 * records for each {@code data:} event its arrival time and the upstream's send time ({@code
 * "bench_sent_ns"}, comparable because {@link FastUpstream} runs in this JVM).
 *
 * <p>No thread is held per stream: the JDK client multiplexes every connection on its selector
 * thread (NIO) and hands lines to the subscriber as they are decoded, on Java 17 as on 25, so
 * one JVM holds thousands of open streams.
 *
 * <p>Not thread-safe: one run at a time.
 */
final class StreamLoad {
  static final String STREAM_BODY =
      "{\"model\":\"bench-model\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}";

  private StreamLoad() {}

  /** One stream: its due time, per-event arrival and send times, and how it ended. */
  static final class Stream {
    final long due;
    final long[] arrived;
    final long[] sent;
    int events;
    boolean done;
    boolean errorEvent;
    int status;
    String failure;

    Stream(long due, int expectedEvents) {
      this.due = due;
      this.arrived = new long[expectedEvents + 1];
      this.sent = new long[expectedEvents + 1];
    }

    boolean complete(int expectedEvents) {
      return failure == null && status == 200 && done && !errorEvent && events == expectedEvents;
    }
  }

  /**
   * Opens {@code count} streams at {@code ratePerSecond} and waits until every one ended (or
   * {@code timeout} after the last start).
   */
  static List<Stream> run(HttpClient client, URI uri, int count, double ratePerSecond, int expectedEvents,
      Duration timeout) {
    HttpRequest request = HttpRequest.newBuilder(uri)
        .header("Content-Type", "application/json")
        .header("Accept", "text/event-stream")
        .POST(HttpRequest.BodyPublishers.ofString(STREAM_BODY, StandardCharsets.UTF_8))
        .build();
    long interval = (long) (TimeUnit.SECONDS.toNanos(1) / ratePerSecond);
    long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5);
    List<Stream> streams = new ArrayList<>(count);
    List<CompletableFuture<Void>> ends = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      long due = start + i * interval;
      long wait;
      while ((wait = due - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait);
      }
      Stream stream = new Stream(due, expectedEvents);
      streams.add(stream);
      Recorder recorder = new Recorder(stream);
      CompletableFuture<Void> sent = client.sendAsync(request, HttpResponse.BodyHandlers.fromLineSubscriber(recorder))
          .handle((response, error) -> {
            if (error != null) {
              recorder.fail(error.toString());
            } else {
              synchronized (stream) {
                stream.status = response.statusCode();
              }
              if (response.statusCode() != 200) {
                recorder.fail("HTTP " + response.statusCode());
              }
            }
            return null;
          });
      ends.add(CompletableFuture.allOf(recorder.end, sent));
    }
    try {
      CompletableFuture.allOf(ends.toArray(CompletableFuture[]::new)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      // Streams still open are reported as not complete.
      for (Stream stream : streams) {
        synchronized (stream) {
          if (!stream.done && stream.failure == null) {
            stream.failure = "not finished within " + timeout.toSeconds() + " s";
          }
        }
      }
    }
    return streams;
  }

  /** Records the events of one stream as their lines arrive. */
  private static final class Recorder implements Flow.Subscriber<String> {
    private final Stream stream;
    private final CompletableFuture<Void> end = new CompletableFuture<>();

    Recorder(Stream stream) {
      this.stream = stream;
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
      subscription.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(String line) {
      long now = System.nanoTime();
      if (!line.startsWith("data:")) {
        return;
      }
      synchronized (stream) {
        if (line.contains("[DONE]")) {
          stream.done = true;
        } else if (line.contains("\"error\"")) {
          stream.errorEvent = true;
        } else if (stream.events < stream.arrived.length) {
          stream.arrived[stream.events] = now;
          stream.sent[stream.events] = FastUpstream.sentNanos(line);
          stream.events++;
        }
      }
    }

    @Override
    public void onError(Throwable throwable) {
      fail(throwable.toString());
    }

    @Override
    public void onComplete() {
      end.complete(null);
    }

    void fail(String why) {
      synchronized (stream) {
        if (stream.failure == null) {
          stream.failure = why;
        }
      }
      end.complete(null);
    }
  }
}
