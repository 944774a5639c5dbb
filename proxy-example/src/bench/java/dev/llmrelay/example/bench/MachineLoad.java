package dev.llmrelay.example.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * How much CPU the rest of the machine is using while the benchmark runs: the machine's busy time
 * (from {@code /proc/stat}) minus the benchmark's own (this JVM and every process it started, with
 * the time of children that already exited and were reaped, such as a finished wrk), in cores.
 *
 * <p>Why: on a shared development machine a build or a test run next to the benchmark takes
 * cores from the targets and makes a round worthless. Before each measured round the benchmark
 * waits until the rest of the machine is quiet ({@link #awaitQuiet}), and every round records the
 * load that ran beside it, so a disturbed result is visible in the table instead of passing
 * for a slow proxy.
 *
 * <p>Stateless and thread-safe. Without {@code /proc} every value is 0 (never noisy).
 */
final class MachineLoad {
  private MachineLoad() {}

  /** Busy ticks of the machine and of the benchmark's own process tree, at one moment. */
  record Snapshot(long machineBusyTicks, long ownTicks, long nanoTime) {}

  static Snapshot now() {
    return new Snapshot(machineBusy(), ownTicks(), System.nanoTime());
  }

  /** Cores used by processes outside the benchmark between {@code a} and {@code b}. */
  static double otherCores(Snapshot a, Snapshot b) {
    double seconds = (b.nanoTime() - a.nanoTime()) / 1e9;
    if (seconds <= 0) {
      return 0;
    }
    long other = (b.machineBusyTicks() - a.machineBusyTicks()) - (b.ownTicks() - a.ownTicks());
    return Math.max(0, other / (double) ProcStats.TICKS_PER_SECOND / seconds);
  }

  /**
   * Waits until the rest of the machine uses less than {@code maxCores} over a 2 s window, or
   * {@code timeout} passed (then it goes on and says so).
   */
  static void awaitQuiet(BenchRun run, double maxCores, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    boolean told = false;
    while (true) {
      Snapshot a = now();
      Children.sleep(Duration.ofSeconds(2));
      double other = otherCores(a, now());
      if (other < maxCores) {
        if (told) {
          run.progress("the machine is quiet again (%.2f cores used outside the benchmark)", other);
        }
        return;
      }
      if (System.nanoTime() > deadline) {
        run.progress("still %.2f cores used outside the benchmark after %d s: measuring anyway (see the noise column)",
            other, timeout.toSeconds());
        return;
      }
      if (!told) {
        run.progress("waiting: %.2f cores used outside the benchmark (a build or test run?); measuring when below %.2f",
            other, maxCores);
        told = true;
      }
    }
  }

  private static long machineBusy() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/stat"))) {
        if (line.startsWith("cpu ")) {
          String[] f = line.trim().split("\\s+");
          // cpu user nice system idle iowait irq softirq steal guest guest_nice
          long busy = 0;
          for (int i : new int[] {1, 2, 3, 6, 7, 8}) {
            if (i < f.length) {
              busy += Long.parseLong(f[i]);
            }
          }
          return busy;
        }
      }
    } catch (IOException | RuntimeException e) {
      // no /proc
    }
    return 0;
  }

  private static long ownTicks() {
    List<Long> pids = new ArrayList<>();
    pids.add(ProcessHandle.current().pid());
    ProcessHandle.current().descendants().forEach(p -> pids.add(p.pid()));
    long ticks = 0;
    for (long pid : pids) {
      try {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        // state ppid ... utime(11) stime(12) cutime(13) cstime(14), counted from the state
        ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]);
      } catch (IOException | RuntimeException e) {
        // exited meanwhile
      }
    }
    return ticks;
  }
}
