package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.RelayException;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The read's end is decided once, whichever of the container's callbacks and the deadline comes
 * first; the deadline measures gaps between reads, and zero means none.
 */
class ClientBodyListenerTest {
  private static final byte[] BODY = "{\"model\":\"m\"}".getBytes(StandardCharsets.UTF_8);

  private final BodyDeadlines deadlines = BodyDeadlines.create();
  private final ScheduledThreadPoolExecutor timer = (ScheduledThreadPoolExecutor) deadlines.timer();
  private final List<Object> outcomes = new CopyOnWriteArrayList<>();
  private final ClientBodyListener.Continuation next =
      new ClientBodyListener.Continuation() {
        @Override
        public void onBody(ClientBody body) {
          outcomes.add(body);
        }

        @Override
        public void onRejected(RelayException error) {
          outcomes.add(error);
        }
      };

  @AfterEach
  void stopTimer() {
    deadlines.close();
  }

  private ClientBodyListener listener(ServletInputStream in, Duration timeout) {
    ClientRequestReader reader = new ClientRequestReader(1024);
    return new ClientBodyListener(reader, reader.start(BODY.length), in, timeout, timer, "t-1", next);
  }

  @Test
  void theFirstEndWinsAndLaterCallbacksAreIgnored() throws Exception {
    ClientBodyListener listener = listener(stream(new byte[0]), Duration.ofSeconds(60));
    listener.start(asyncContext());

    listener.onError(new EOFException("early EOF"));
    listener.onError(new EOFException("reported again"));
    listener.onAllDataRead();
    listener.onComplete(null);

    assertThat(outcomes).as("outcomes").hasSize(1);
    assertThat(((RelayException) outcomes.get(0)).code()).as("code").isEqualTo("incomplete_body");
    assertThat(timer.getQueue()).as("deadline cancelled and removed").isEmpty();
  }

  @Test
  void aContainerIdleTimeoutIsA408() {
    ClientBodyListener listener = listener(stream(new byte[0]), Duration.ZERO);
    listener.start(asyncContext());

    listener.onError(new java.util.concurrent.TimeoutException("Idle timeout expired: 30000/30000 ms"));

    assertThat(((RelayException) outcomes.get(0)).status()).as("status").isEqualTo(408);
  }

  @Test
  void zeroTimeoutArmsNoDeadline() throws Exception {
    ClientBodyListener listener = listener(stream(BODY), Duration.ZERO);
    listener.start(asyncContext());
    assertThat(timer.getQueue()).as("scheduled deadlines").isEmpty();

    listener.onDataAvailable();
    listener.onAllDataRead();
    assertThat(outcomes).as("outcomes").hasSize(1);
    assertThat(((ClientBody) outcomes.get(0)).model()).as("the body, parsed").isEqualTo("m");
  }

  @Test
  void theDeadlineAnswers408AfterAGapWithoutBytes() {
    ClientBodyListener listener = listener(stream(new byte[0]), Duration.ofMillis(200));
    long started = System.nanoTime();
    listener.start(asyncContext());

    await().atMost(Duration.ofSeconds(2)).until(() -> !outcomes.isEmpty());

    assertThat((System.nanoTime() - started) / 1_000_000).as("ms until the deadline fired").isGreaterThanOrEqualTo(200);
    RelayException error = (RelayException) outcomes.get(0);
    assertThat(error.status()).as("status").isEqualTo(408);
    assertThat(error.code()).as("code").isEqualTo("request_body_timeout");
    assertThat(error.getMessage()).as("message names the setting").contains("0.2 s (CLIENT_BODY_TIMEOUT_SECONDS)");
    listener.onAllDataRead();
    assertThat(outcomes).as("a late end is ignored").hasSize(1);
  }

  /** A ready stream over {@code bytes} that ignores its listener (the test calls back itself). */
  private static ServletInputStream stream(byte[] bytes) {
    ByteArrayInputStream in = new ByteArrayInputStream(bytes);
    return new ServletInputStream() {
      @Override
      public int read() {
        return in.read();
      }

      @Override
      public int read(byte[] b, int off, int len) {
        return in.read(b, off, len);
      }

      @Override
      public boolean isFinished() {
        return in.available() == 0;
      }

      @Override
      public boolean isReady() {
        return true;
      }

      @Override
      public void setReadListener(ReadListener readListener) {}
    };
  }

  private static AsyncContext asyncContext() {
    return (AsyncContext)
        Proxy.newProxyInstance(
            ClientBodyListenerTest.class.getClassLoader(), new Class<?>[] {AsyncContext.class}, (p, m, a) -> null);
  }
}
