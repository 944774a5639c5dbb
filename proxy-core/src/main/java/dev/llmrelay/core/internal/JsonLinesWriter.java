package dev.llmrelay.core.internal;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes JSON request records, one per line, into daily files {@code requests-YYYY-MM-DD.jsonl}
 * (local date) under a directory, off the request path.
 *
 * <p>Why a queue and a thread of its own: a request must never wait for a disk. {@link #offer}
 * puts the record into a bounded queue and returns at once; when the queue is full the record is
 * dropped and counted. One daemon thread drains the queue, rolls the file at midnight and deletes
 * files older than the retention. Thread-safe.
 */
final class JsonLinesWriter implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(JsonLinesWriter.class);
  private static final byte[] NEWLINE = {'\n'};
  private static final Object STOP = new Object();

  /** Where records go; the file implementation, or a test's. */
  interface Sink {
    void write(LocalDate day, byte[] record) throws IOException;

    default void flush() throws IOException {}

    default void close() throws IOException {}
  }

  private final BlockingQueue<Object> queue;
  private final Sink sink;
  private final ZoneId zone;
  private final LongAdder dropped = new LongAdder();
  private final Thread thread;
  private volatile boolean closed;

  JsonLinesWriter(Sink sink, int capacity, ZoneId zone) {
    this.queue = new ArrayBlockingQueue<>(capacity);
    this.sink = sink;
    this.zone = zone;
    this.thread = new Thread(this::drain, "llmrelay-request-log");
    thread.setDaemon(true);
    thread.setContextClassLoader(Threads.neutralContextLoader()); // see Threads: nothing of the creator's kept
    thread.start();
  }

  /** A writer into daily files under {@code dir}, keeping {@code retentionDays} (0 = forever). */
  static JsonLinesWriter daily(Path dir, int retentionDays) {
    return new JsonLinesWriter(new DailyFiles(dir, retentionDays, ZoneId.systemDefault()), 8192, ZoneId.systemDefault());
  }

  /** Queues a record; never blocks. Returns false (and counts) when the queue is full. */
  boolean offer(Instant at, byte[] record) {
    if (closed || !queue.offer(new Entry(LocalDate.ofInstant(at, zone), record))) {
      dropped.increment();
      return false;
    }
    return true;
  }

  long dropped() {
    return dropped.sum();
  }

  private void drain() {
    try {
      while (true) {
        Object next = queue.poll(1, TimeUnit.SECONDS);
        if (next == STOP) {
          break;
        }
        if (next == null) {
          continue;
        }
        write((Entry) next);
        // Write what else is queued, then flush once: one flush per burst, not per record.
        Object more;
        while ((more = queue.poll()) != null && more != STOP) {
          write((Entry) more);
        }
        flush();
        if (more == STOP) {
          break;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      Object rest;
      while ((rest = queue.poll()) != null) {
        if (rest != STOP) {
          write((Entry) rest);
        }
      }
      flush();
      try {
        sink.close();
      } catch (IOException e) {
        log.warn("closing the request log failed: {}", e.toString());
      }
    }
  }

  private void write(Entry e) {
    try {
      sink.write(e.day, e.record);
    } catch (IOException | RuntimeException ex) {
      dropped.increment();
      log.warn("writing the request log failed: {}", ex.toString());
    }
  }

  private void flush() {
    try {
      sink.flush();
    } catch (IOException ex) {
      log.warn("flushing the request log failed: {}", ex.toString());
    }
  }

  /** Stops accepting, writes what is queued (waiting at most 2 s) and closes the file. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    while (!queue.offer(STOP)) {
      queue.poll();
      dropped.increment();
    }
    try {
      thread.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    // Records that raced in after the stop marker are counted, never silently lost.
    while (queue.poll() != null) {
      dropped.increment();
    }
  }

  private record Entry(LocalDate day, byte[] record) {}

  /** Appends to {@code requests-YYYY-MM-DD.jsonl}, rolling daily and applying the retention. */
  static final class DailyFiles implements Sink {
    private final Path dir;
    private final int retentionDays;
    private final ZoneId zone;
    private LocalDate openDay;
    private OutputStream out;

    DailyFiles(Path dir, int retentionDays, ZoneId zone) {
      this.dir = dir;
      this.retentionDays = retentionDays;
      this.zone = zone;
    }

    static String fileName(LocalDate day) {
      return "requests-" + day + ".jsonl";
    }

    @Override
    public void write(LocalDate day, byte[] record) throws IOException {
      if (!day.equals(openDay)) {
        close();
        Files.createDirectories(dir);
        out = Files.newOutputStream(
            dir.resolve(fileName(day)), StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        openDay = day;
        deleteExpired(day);
      }
      out.write(record);
      out.write(NEWLINE);
    }

    @Override
    public void flush() throws IOException {
      if (out != null) {
        out.flush();
      }
    }

    @Override
    public void close() throws IOException {
      if (out != null) {
        out.close();
        out = null;
        openDay = null;
      }
    }

    /** Deletes daily files whose date is more than {@code retentionDays} before {@code today}. */
    void deleteExpired(LocalDate today) {
      if (retentionDays <= 0) {
        return;
      }
      LocalDate oldestKept = today.minusDays(retentionDays - 1L);
      try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "requests-*.jsonl")) {
        for (Path f : files) {
          String name = f.getFileName().toString();
          try {
            LocalDate day = LocalDate.parse(name.substring("requests-".length(), name.length() - ".jsonl".length()));
            if (day.isBefore(oldestKept)) {
              Files.deleteIfExists(f);
            }
          } catch (RuntimeException notOurs) {
            // a file that only looks like ours: leave it
          }
        }
      } catch (IOException e) {
        log.warn("cleaning old request logs in {} failed: {}", dir, e.toString());
      }
    }

    ZoneId zone() {
      return zone;
    }
  }
}
