package dev.llmrelay.example;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;

/**
 * The launcher's standard error through a buffer: the request log writes one line per request, and
 * {@code System.err} (unbuffered, flushed on every line) turns each into its own {@code write}
 * system call under the stream's lock; at thousands of requests a second that is several percent
 * of the proxy's CPU time and a point where request threads queue. Here lines collect in a 64 KiB
 * buffer that a daemon thread flushes every {@code interval} (and {@link #close()} at exit), so a
 * line reaches the terminal at most {@code interval} late, and a busy proxy writes many lines per
 * call. A JVM that ends without running shutdown hooks ({@code SIGKILL}, a crash, {@code
 * Runtime.halt}, {@code -XX:+ExitOnOutOfMemoryError}) loses at most the last {@code interval} of
 * lines; the launcher documents this.
 *
 * <p>The launcher's logback console appender looks {@code System.err} up on every write, so replacing it is enough; it also
 * flushes after every line, so the buffer ignores {@code flush()} and only the flusher (and {@link
 * #close()}) write it out. Thread-safe (a {@link PrintStream} and a {@link BufferedOutputStream}
 * are).
 */
final class BufferedConsole implements AutoCloseable {
  private final PrintStream original;
  private final DeferredFlush sink;
  private final PrintStream buffered;
  private final Thread flusher;
  private volatile boolean closed;

  private BufferedConsole(OutputStream target, Duration interval) {
    if (interval.isNegative() || interval.isZero()) {
      throw new IllegalArgumentException("interval must be positive: " + interval);
    }
    this.original = System.err;
    this.sink = new DeferredFlush(target);
    this.buffered = new PrintStream(sink, false, stderrCharset());
    long nanos = interval.toNanos();
    this.flusher = new Thread(() -> {
      while (!closed) {
        LockSupport.parkNanos(nanos);
        flush();
      }
    }, "llmrelay-stderr-flusher");
    flusher.setDaemon(true);
  }

  /** Replaces {@code System.err} with a buffered stream flushed every {@code interval}. */
  static BufferedConsole install(Duration interval) {
    return install(new FileOutputStream(FileDescriptor.err), interval);
  }

  /** Replaces {@code System.err} with a stream buffered in front of {@code target}. */
  static BufferedConsole install(OutputStream target, Duration interval) {
    BufferedConsole console = new BufferedConsole(target, interval);
    System.err.flush();
    System.setErr(console.buffered);
    console.flusher.start();
    return console;
  }

  /** Writes what is buffered now. */
  void flush() {
    buffered.flush(); // moves the PrintStream's characters into the buffer
    try {
      sink.flushNow();
    } catch (IOException e) {
      // Standard error is gone (a closed pipe): nothing to report it on.
    }
  }

  /**
   * A buffer whose {@code flush()} does nothing: the console appender flushes after every line, which
   * would make the buffer useless. Only {@link #flushNow()} (the flusher, close) writes.
   */
  private static final class DeferredFlush extends BufferedOutputStream {
    DeferredFlush(OutputStream target) {
      super(target, 64 * 1024);
    }

    @Override
    public void flush() {}

    void flushNow() throws IOException {
      super.flush();
    }
  }

  /**
   * Puts the original {@code System.err} back, then writes what is buffered (in that order, so a
   * line logged meanwhile goes to one stream or the other, never into a buffer nobody flushes).
   */
  @Override
  public void close() {
    closed = true;
    if (System.err == buffered) {
      System.setErr(original);
    }
    LockSupport.unpark(flusher);
    flush();
  }

  /** The encoding {@code System.err} uses ({@code stderr.encoding} on 19+, else the default). */
  private static Charset stderrCharset() {
    for (String property : new String[] {"stderr.encoding", "sun.stderr.encoding"}) {
      String name = System.getProperty(property);
      if (name != null) {
        try {
          return Charset.forName(name);
        } catch (IllegalArgumentException unknown) {
          // try the next
        }
      }
    }
    return Charset.defaultCharset();
  }
}
