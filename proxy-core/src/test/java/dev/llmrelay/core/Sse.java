package dev.llmrelay.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import mockwebserver3.MockResponseBody;
import mockwebserver3.SocketEffect;
import okio.BufferedSink;

/**
 * A scripted SSE body for MockWebServer: events written and flushed one by one, with pauses,
 * latches and an abrupt end. The body has no length and no chunked framing, so it ends when the
 * server closes the connection: an abrupt close looks exactly like a stream cut short.
 */
public final class Sse implements MockResponseBody {
  private interface Step {
    void run(BufferedSink sink) throws IOException, InterruptedException;
  }

  private final List<Step> steps = new ArrayList<>();
  private CountDownLatch writeFailed;

  /** A chat chunk event carrying {@code content}. */
  public static String chunk(int i, String content) {
    return "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        + "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
        + content
        + "\"},\"finish_reason\":null}]}\n\n";
  }

  /** The final chunk with finish_reason stop. */
  public static String finish() {
    return "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        + "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
  }

  public static final String DONE = "data: [DONE]\n\n";

  /** Writes and flushes raw text. */
  public Sse send(String text) {
    steps.add(sink -> {
      sink.writeUtf8(text);
      sink.flush();
    });
    return this;
  }

  /** Pauses. */
  public Sse pause(long millis) {
    steps.add(sink -> Thread.sleep(millis));
    return this;
  }

  /** Waits (at most 10 s) until the latch opens. */
  public Sse await(CountDownLatch latch) {
    steps.add(sink -> latch.await(10, TimeUnit.SECONDS));
    return this;
  }

  /** Opens a latch (to tell the test how far the server got). */
  public Sse signal(CountDownLatch latch) {
    steps.add(sink -> latch.countDown());
    return this;
  }

  /**
   * Ends the body here: the server closes the connection, which for a body without length or
   * chunked framing is exactly what a stream cut short looks like to the client.
   */
  public Sse cut() {
    steps.add(sink -> {
      throw new Cut();
    });
    return this;
  }

  private static final class Cut extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  /** Counts down when a write fails: the client (the relay) closed the connection. */
  public Sse onWriteFailure(CountDownLatch latch) {
    this.writeFailed = latch;
    return this;
  }

  /** Sends a keep-alive comment every {@code everyMillis} for at most {@code forMillis}. */
  public Sse keepAlive(long everyMillis, long forMillis) {
    for (long t = 0; t < forMillis; t += everyMillis) {
      pause(everyMillis).send(": keep-alive\n\n");
    }
    return this;
  }

  @Override
  public long getContentLength() {
    return -1;
  }

  @Override
  public void writeTo(BufferedSink sink) throws IOException {
    try {
      for (Step s : steps) {
        s.run(sink);
      }
    } catch (Cut cut) {
      sink.flush();
    } catch (IOException e) {
      if (writeFailed != null) {
        writeFailed.countDown();
      }
      throw e;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
  }

  /** A 200 text/event-stream response with this body; the connection closes when it ends. */
  public MockResponse response() {
    return new MockResponse.Builder()
        .code(200)
        .setHeader("Content-Type", "text/event-stream")
        .body(this)
        .onResponseEnd(new SocketEffect.CloseSocket(true, false, false))
        .build();
  }
}
