package dev.llmrelay.example.bench;

import java.util.List;
import java.util.function.Supplier;

/**
 * Samples the resident memory of a set of processes every half second while load runs and
 * keeps the highest values: "RSS under load" is the peak seen, not a value after the load.
 *
 * <p>Thread-safe; {@link #close()} stops the sampling thread.
 */
final class MemorySampler implements AutoCloseable {
  private final Supplier<List<Long>> pids;
  private final Thread thread;
  private volatile boolean running = true;
  private long maxRss;
  private long maxPss;
  private int maxThreads;

  MemorySampler(Supplier<List<Long>> pids) {
    this.pids = pids;
    this.thread = new Thread(this::loop, "bench-memory-sampler");
    thread.setDaemon(true);
    thread.start();
  }

  private void loop() {
    while (running) {
      sampleOnce();
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private synchronized void sampleOnce() {
    ProcStats.Sample s = ProcStats.sample(pids.get());
    maxRss = Math.max(maxRss, s.rssKib());
    maxPss = Math.max(maxPss, s.pssKib());
    maxThreads = Math.max(maxThreads, s.threads());
  }

  /** The peaks so far, as a sample without CPU. */
  synchronized ProcStats.Sample peak() {
    return new ProcStats.Sample(0, 0, maxRss, maxPss, maxThreads);
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
    try {
      thread.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    sampleOnce();
  }
}
