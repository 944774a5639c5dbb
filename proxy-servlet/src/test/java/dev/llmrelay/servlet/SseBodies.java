package dev.llmrelay.servlet;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponseBody;
import okio.BufferedSink;

/** Timed and gated SSE bodies for MockWebServer: each event is written and flushed on its own. */
final class SseBodies {
  private SseBodies() {}

  /**
   * Writes {@code events} in order; before event {@code i} it waits for {@code gates.get(i)} (null
   * = no wait). Fails the upstream side if a gate is not opened within 10 s.
   */
  static MockResponseBody gated(List<String> events, List<CountDownLatch> gates) {
    return new MockResponseBody() {
      @Override
      public long getContentLength() {
        return -1;
      }

      @Override
      public void writeTo(BufferedSink sink) throws IOException {
        for (int i = 0; i < events.size(); i++) {
          CountDownLatch gate = i < gates.size() ? gates.get(i) : null;
          if (gate != null) {
            try {
              if (!gate.await(10, TimeUnit.SECONDS)) {
                throw new IOException("test gate " + i + " was never opened");
              }
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              throw new IOException(e);
            }
          }
          sink.writeUtf8(events.get(i));
          sink.flush();
        }
      }
    };
  }

  /**
   * Writes one chunk every {@code periodMillis} until writing fails (the relay closed the
   * connection) or {@code maxEvents} were written; then counts {@code upstreamClosed} down when it
   * was a failure.
   */
  static MockResponseBody endless(long periodMillis, int maxEvents, CountDownLatch upstreamClosed) {
    return new MockResponseBody() {
      @Override
      public long getContentLength() {
        return -1;
      }

      @Override
      public void writeTo(BufferedSink sink) throws IOException {
        try {
          for (int i = 0; i < maxEvents; i++) {
            sink.writeUtf8(Upstreams.chunk("token" + i));
            sink.flush();
            Thread.sleep(periodMillis);
          }
        } catch (IOException e) {
          upstreamClosed.countDown();
          throw e;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(e);
        }
      }
    };
  }
}
