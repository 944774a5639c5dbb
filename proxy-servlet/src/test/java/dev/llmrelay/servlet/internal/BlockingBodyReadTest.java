package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The blocking body read of a request the container runs on a virtual thread: the same limits and
 * the same gap deadline as the non-blocking read, and a thread that leaves it clean.
 */
class BlockingBodyReadTest {
  private static final String BODY = "{\"model\":\"m\",\"messages\":[]}";
  private final ClientRequestReader reader = new ClientRequestReader(1 << 20);
  private final java.util.List<BlockingBodyRead> reads = new java.util.ArrayList<>();

  @AfterEach
  void stopSweeps() {
    for (BlockingBodyRead r : reads) {
      assertThat(r.inProgress()).as("no read left registered").isZero();
      r.close();
    }
  }

  /** Hands out its pieces one read at a time, pausing (interruptibly) before each as asked. */
  private static final class Trickle extends InputStream {
    private final Deque<Object> steps = new ArrayDeque<>();

    Trickle pause(long millis) {
      steps.add(millis);
      return this;
    }

    Trickle send(String text) {
      steps.add(text.getBytes(StandardCharsets.UTF_8));
      return this;
    }

    Trickle fail() {
      steps.add(new IOException("connection reset"));
      return this;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) == -1 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      while (!steps.isEmpty()) {
        Object step = steps.peek();
        if (step instanceof Long millis) {
          steps.poll();
          try {
            Thread.sleep(millis); // a blocked socket read, as far as an interrupt is concerned
          } catch (InterruptedException e) {
            throw new InterruptedIOException("interrupted");
          }
        } else if (step instanceof IOException failure) {
          throw failure;
        } else {
          byte[] data = (byte[]) step;
          int n = Math.min(len, data.length);
          System.arraycopy(data, 0, b, off, n);
          steps.poll();
          if (n < data.length) {
            steps.push(java.util.Arrays.copyOfRange(data, n, data.length));
          }
          return n;
        }
      }
      return -1;
    }
  }

  private ClientBody read(Trickle in, long declared, Duration gap) {
    BlockingBodyRead r = new BlockingBodyRead(gap);
    reads.add(r);
    return r.read(reader, reader.start(declared), in);
  }

  @Test
  void aBodyWhosePiecesComeWithinTheGapIsReadWholeAndValidated() {
    Trickle in = new Trickle().send(BODY.substring(0, 10)).pause(150).send(BODY.substring(10)).pause(150);

    ClientBody body = read(in, BODY.length(), Duration.ofMillis(600));

    assertThat(new String(body.bytes(), StandardCharsets.UTF_8)).isEqualTo(BODY);
    assertThat(body.model()).isEqualTo("m");
    assertThat(Thread.currentThread().isInterrupted()).isFalse();
  }

  @Test
  void aBodyThatStallsLongerThanTheGapIs408AndTheThreadIsLeftWithoutItsInterrupt() {
    Trickle in = new Trickle().send(BODY.substring(0, 10)).pause(5_000).send(BODY.substring(10));
    long start = System.nanoTime();

    assertThatThrownBy(() -> read(in, BODY.length(), Duration.ofMillis(300)))
        .isInstanceOf(RequestBodyTimeoutException.class)
        .satisfies(e -> assertThat(((RequestBodyTimeoutException) e).status()).isEqualTo(408));

    assertThat((System.nanoTime() - start) / 1_000_000).as("ended by the deadline, not the stall").isBetween(250L, 3000L); // the gap, plus at most a sweep interval
    assertThat(Thread.currentThread().isInterrupted()).as("the deadline's interrupt was taken back").isFalse();
  }

  @Test
  void aBodyShorterThanItsContentLengthOrCutByAResetIs400IncompleteBody() {
    assertThatThrownBy(() -> read(new Trickle().send(BODY.substring(0, 10)), BODY.length(), Duration.ofSeconds(5)))
        .isInstanceOf(IncompleteBodyException.class);
    assertThatThrownBy(() -> read(new Trickle().send(BODY.substring(0, 10)).fail(), BODY.length(), Duration.ofSeconds(5)))
        .isInstanceOf(IncompleteBodyException.class);
  }

  @Test
  void withoutADeadlineASlowBodyIsStillReadAndAnInvalidOneRefused() {
    assertThat(read(new Trickle().pause(100).send(BODY), BODY.length(), Duration.ZERO).model()).isEqualTo("m");
    assertThatThrownBy(() -> read(new Trickle().send("[1]"), 3, Duration.ZERO)).isInstanceOf(InvalidJsonException.class);
  }
}
