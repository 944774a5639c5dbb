package dev.llmrelay.example.bench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * The benchmark's in-process upstream: a Jetty 12 core handler on 127.0.0.1 that answers every
 * request with either one fixed {@code chat.completion} (after an optional delay) or an SSE
 * stream of {@code chat.completion.chunk} events a fixed gap apart.
 *
 * <p>Delays and gaps are scheduler tasks, not sleeping threads, so thousands of open streams cost
 * memory, not threads. Event {@code i} is due at {@code start + i * gap} (absolute, so lateness
 * does not accumulate), and each event carries {@code "bench_sent_ns"}: the {@link
 * System#nanoTime()} at which it was handed to the connection. The load client runs in the same
 * JVM, so it can subtract that from its arrival time and get each event's one-way delay through
 * whatever sits between them (nothing, nginx, or the proxy).
 *
 * <p>Thread-safe. Close it to stop.
 */
final class FastUpstream implements AutoCloseable {
  /** The fixed body of a non-streaming answer: a small, realistic {@code chat.completion}. */
  static final String CHAT_COMPLETION =
      "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,"
          + "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
          + "\"content\":\"Hello from the fast upstream.\"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":7,\"total_tokens\":16}}";
  /** The JSON key carrying an event's send time. */
  static final String SENT_KEY = "\"bench_sent_ns\":";

  private static final byte[] CHAT_COMPLETION_BYTES = CHAT_COMPLETION.getBytes(StandardCharsets.UTF_8);
  private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);

  private final Server server;
  private final ServerConnector connector;
  private final LongAdder requests = new LongAdder();
  private final String description;

  private FastUpstream(Duration delay, int events, Duration gap) {
    QueuedThreadPool threads = new QueuedThreadPool(64, 4);
    threads.setName("bench-upstream");
    threads.setDaemon(true);
    ScheduledExecutorScheduler scheduler = new ScheduledExecutorScheduler("bench-upstream-timer", true, 2);
    server = new Server(threads, scheduler, null);
    server.setStopTimeout(0);
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    http.setSendXPoweredBy(false);
    connector = new ServerConnector(server, new HttpConnectionFactory(http));
    connector.setHost(Children.HOST);
    connector.setPort(0);
    connector.setAcceptQueueSize(8192);
    connector.setIdleTimeout(Duration.ofMinutes(5).toMillis());
    server.addConnector(connector);
    server.setHandler(events > 0 ? new StreamHandler(scheduler, events, gap) : new JsonHandler(scheduler, delay));
    description = events > 0
        ? "in-process Jetty upstream: SSE, " + events + " events " + gap.toMillis() + " ms apart"
        : "in-process Jetty upstream: fixed chat.completion JSON after " + delay.toMillis() + " ms"
            + (delay.isZero() ? "" : " (scheduled, no thread held)");
    try {
      server.start();
    } catch (Exception e) {
      close();
      throw new IllegalStateException("cannot start the in-process upstream", e);
    }
  }

  /** Answers every request with {@link #CHAT_COMPLETION} after {@code delay}. */
  static FastUpstream json(Duration delay) {
    return new FastUpstream(delay, 0, Duration.ZERO);
  }

  /** Answers every request with {@code events} SSE events {@code gap} apart, then {@code [DONE]}. */
  static FastUpstream sse(int events, Duration gap) {
    return new FastUpstream(Duration.ZERO, events, gap);
  }

  int port() {
    return connector.getLocalPort();
  }

  /** The base URL, {@code http://127.0.0.1:PORT/v1}; every path below it gets the same answer. */
  String baseUrl() {
    return "http://" + Children.HOST + ":" + port() + "/v1";
  }

  String description() {
    return description;
  }

  long requests() {
    return requests.sum();
  }

  @Override
  public void close() {
    try {
      server.stop();
    } catch (Exception e) {
      // best effort: daemon threads
    }
  }

  /** Parses {@code "bench_sent_ns"} out of one {@code data:} line; -1 when absent. */
  static long sentNanos(String line) {
    int at = line.indexOf(SENT_KEY);
    if (at < 0) {
      return -1;
    }
    int start = at + SENT_KEY.length();
    int end = start;
    while (end < line.length() && (Character.isDigit(line.charAt(end)) || line.charAt(end) == '-')) {
      end++;
    }
    return Long.parseLong(line, start, end, 10);
  }

  static byte[] event(int index, int count, long sentNanos) {
    String finish = index == count - 1 ? "\"stop\"" : "null";
    String delta = index == 0 ? "{\"role\":\"assistant\",\"content\":\"\"}" : "{\"content\":\"tok" + index + " \"}";
    return ("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            + "\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":" + delta
            + ",\"finish_reason\":" + finish + "}],\"bench_seq\":" + index + "," + SENT_KEY + sentNanos
            + "}\n\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** The fixed JSON answer, after the delay. */
  private final class JsonHandler extends Handler.Abstract {
    private final Scheduler scheduler;
    private final Duration delay;

    JsonHandler(Scheduler scheduler, Duration delay) {
      super(InvocationType.NON_BLOCKING);
      this.scheduler = scheduler;
      this.delay = delay;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      requests.increment();
      long arrived = System.nanoTime();
      Content.Source.consumeAll(request, Callback.from(Invocable.InvocationType.NON_BLOCKING, () -> {
        long wait = delay.toNanos() - (System.nanoTime() - arrived);
        if (wait <= 0) {
          answer(response, callback);
        } else {
          scheduler.schedule(() -> answer(response, callback), wait, TimeUnit.NANOSECONDS);
        }
      }, callback::failed));
      return true;
    }

    private void answer(Response response, Callback callback) {
      response.setStatus(200);
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
      response.getHeaders().put(HttpHeader.CONTENT_LENGTH, CHAT_COMPLETION_BYTES.length);
      response.write(true, ByteBuffer.wrap(CHAT_COMPLETION_BYTES), callback);
    }
  }

  /** The SSE answer: event 0 with the headers, event i at start + i * gap, [DONE] with the last. */
  private final class StreamHandler extends Handler.Abstract {
    private final Scheduler scheduler;
    private final int events;
    private final long gapNanos;

    StreamHandler(Scheduler scheduler, int events, Duration gap) {
      super(InvocationType.NON_BLOCKING);
      this.scheduler = scheduler;
      this.events = events;
      this.gapNanos = gap.toNanos();
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      requests.increment();
      Content.Source.consumeAll(request, Callback.from(Invocable.InvocationType.NON_BLOCKING, () -> {
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        send(response, callback, 0, System.nanoTime());
      }, callback::failed));
      return true;
    }

    private void send(Response response, Callback callback, int index, long start) {
      byte[] event = event(index, events, System.nanoTime());
      boolean last = index == events - 1;
      ByteBuffer buffer;
      if (last) {
        buffer = ByteBuffer.allocate(event.length + DONE.length).put(event).put(DONE).flip();
      } else {
        buffer = ByteBuffer.wrap(event);
      }
      Callback next = last
          ? callback
          : Callback.from(Invocable.InvocationType.NON_BLOCKING, () -> {
            long due = start + (index + 1) * gapNanos - System.nanoTime();
            scheduler.schedule(() -> send(response, callback, index + 1, start), Math.max(0, due), TimeUnit.NANOSECONDS);
          }, callback::failed);
      response.write(last, buffer, next);
    }
  }
}
