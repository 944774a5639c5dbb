package dev.llmrelay.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** A {@link ResponseSink} that records what the client would have received, with timings. */
public class RecordingSink implements ResponseSink {
  /** One body write, with when it happened. */
  public record Write(long nanos, String text) {}

  private final ByteArrayOutputStream body = new ByteArrayOutputStream();
  private final CountDownLatch done = new CountDownLatch(1);
  public final List<Write> writes = new CopyOnWriteArrayList<>();
  public volatile int status;
  public volatile Map<String, List<String>> headers;
  public volatile RelayException failure;
  public volatile boolean completed;
  public volatile int flushes;
  /** When >= 0, the write with this index (0-based) throws as if the client had gone. */
  public volatile int failOnWrite = -1;

  @Override
  public void onResponse(int status, Map<String, List<String>> headers) {
    this.status = status;
    this.headers = headers;
  }

  @Override
  public synchronized void onBody(byte[] buffer, int offset, int length) throws IOException {
    if (failOnWrite >= 0 && writes.size() >= failOnWrite) {
      throw new IOException("client gone (simulated)");
    }
    body.write(buffer, offset, length);
    writes.add(new Write(System.nanoTime(), new String(buffer, offset, length, StandardCharsets.UTF_8)));
  }

  @Override
  public void flush() {
    flushes++;
  }

  @Override
  public void onComplete() {
    completed = true;
    done.countDown();
  }

  @Override
  public void onFailure(RelayException error) {
    failure = error;
    done.countDown();
  }

  /** Waits for onComplete or onFailure. */
  public RecordingSink await() throws InterruptedException {
    if (!done.await(10, TimeUnit.SECONDS)) {
      throw new AssertionError("the exchange did not end within 10 s");
    }
    return this;
  }

  /** True once onComplete or onFailure was called. */
  public boolean ended() {
    return done.getCount() == 0;
  }

  /** The body received so far. */
  public synchronized String body() {
    return body.toString(StandardCharsets.UTF_8);
  }

  /** A response header's first value, or null. */
  public String header(String name) {
    if (headers == null) {
      return null;
    }
    for (Map.Entry<String, List<String>> e : headers.entrySet()) {
      if (e.getKey().equalsIgnoreCase(name) && !e.getValue().isEmpty()) {
        return e.getValue().get(0);
      }
    }
    return null;
  }
}
