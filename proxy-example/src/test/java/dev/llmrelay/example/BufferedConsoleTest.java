package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The launcher's buffered standard error: lines are batched, arrive within the interval, none lost at close. */
class BufferedConsoleTest {

  /** Counts the write calls that reach the "terminal". */
  private static final class CountingTarget extends OutputStream {
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    final AtomicInteger writes = new AtomicInteger();

    @Override
    public synchronized void write(int b) {
      writes.incrementAndGet();
      bytes.write(b);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
      writes.incrementAndGet();
      bytes.write(b, off, len);
    }

    synchronized String text() {
      return bytes.toString(Charset.defaultCharset());
    }
  }

  @Test
  void manyLinesReachTheTargetInFewWritesWithinTheInterval() {
    PrintStream before = System.err;
    CountingTarget target = new CountingTarget();
    BufferedConsole console = BufferedConsole.install(target, Duration.ofMillis(200));
    try {
      assertThat(System.err).isNotSameAs(before);
      for (int i = 0; i < 500; i++) {
        System.err.println("request line " + i);
        System.err.flush(); // the console appender flushes after every line
      }
      await().atMost(Duration.ofSeconds(3)).until(() -> target.text().contains("request line 499"));
      assertThat(target.text()).contains("request line 0\n");
      assertThat(target.writes.get()).as("500 lines in a few writes, not one each").isLessThan(20);
    } finally {
      console.close();
    }
    assertThat(System.err).as("restored at close").isSameAs(before);
  }

  @Test
  void closeFlushesWhatIsStillBuffered() {
    CountingTarget target = new CountingTarget();
    BufferedConsole console = BufferedConsole.install(target, Duration.ofHours(1));
    try {
      System.err.println("the last line before exit");
      System.err.flush();
      assertThat(target.text()).as("still in the buffer").isEmpty();
    } finally {
      console.close();
    }
    assertThat(target.text()).isEqualTo("the last line before exit" + System.lineSeparator());
  }
}
