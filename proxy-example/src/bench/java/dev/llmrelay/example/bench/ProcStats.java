package dev.llmrelay.example.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * CPU time and memory of a process, or of a process and its children (nginx's master and
 * workers), read from Linux's {@code /proc}: {@code utime + stime} from {@code /proc/PID/stat}
 * (clock ticks, all threads of the process), {@code VmRSS} and {@code Threads} from {@code
 * /proc/PID/status}, {@code Pss} from {@code /proc/PID/smaps_rollup}. The sum of RSS over several
 * processes counts their shared pages more than once; the sum of PSS does not, so both are kept.
 *
 * <p>Stateless and thread-safe. On a system without {@code /proc} every value is 0.
 */
final class ProcStats {
  static final long TICKS_PER_SECOND = clockTicks();

  private ProcStats() {}

  /** One reading; CPU (user + system, and system alone) in nanoseconds, tick resolution (10 ms). */
  record Sample(long cpuNanos, long sysNanos, long rssKib, long pssKib, int threads) {

    double rssMib() {
      return rssKib / 1024.0;
    }

    double pssMib() {
      return pssKib / 1024.0;
    }
  }

  static Sample sample(List<Long> pids) {
    long ticks = 0;
    long sysTicks = 0;
    long rss = 0;
    long pss = 0;
    int threads = 0;
    for (long pid : pids) {
      long[] cpu = cpuTicks(pid);
      ticks += cpu[0] + cpu[1];
      sysTicks += cpu[1];
      rss += statusValue(pid, "VmRSS:");
      threads += (int) statusValue(pid, "Threads:");
      pss += smapsValue(pid, "Pss:");
    }
    long nanosPerTick = TimeUnit.SECONDS.toNanos(1) / TICKS_PER_SECOND;
    return new Sample(ticks * nanosPerTick, sysTicks * nanosPerTick, rss, pss, threads);
  }

  /** {@code pid} and its direct children (nginx: the master and its workers). */
  static List<Long> withChildren(long pid) {
    List<Long> pids = new ArrayList<>();
    pids.add(pid);
    try (Stream<Path> entries = Files.list(Path.of("/proc"))) {
      entries.forEach(entry -> {
        String name = entry.getFileName().toString();
        if (!name.chars().allMatch(Character::isDigit)) {
          return;
        }
        String[] fields = statFields(Long.parseLong(name));
        if (fields != null && fields.length > 1 && Long.parseLong(fields[1]) == pid) {
          pids.add(Long.parseLong(name));
        }
      });
    } catch (IOException | RuntimeException e) {
      // No /proc: the caller measures the pid alone.
    }
    return pids;
  }

  /** {utime, stime} in clock ticks. */
  private static long[] cpuTicks(long pid) {
    String[] fields = statFields(pid);
    if (fields == null || fields.length < 13) {
      return new long[2];
    }
    // After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return new long[] {Long.parseLong(fields[11]), Long.parseLong(fields[12])};
  }

  /** The fields of {@code /proc/PID/stat} after the command name, starting with the state. */
  private static String[] statFields(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      return stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private static long statusValue(long pid, String key) {
    return keyedValue(Path.of("/proc", Long.toString(pid), "status"), key);
  }

  private static long smapsValue(long pid, String key) {
    return keyedValue(Path.of("/proc", Long.toString(pid), "smaps_rollup"), key);
  }

  private static long keyedValue(Path file, String key) {
    try {
      for (String line : Files.readAllLines(file)) {
        if (line.startsWith(key)) {
          return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
        }
      }
    } catch (IOException | RuntimeException e) {
      // process gone or no /proc
    }
    return 0;
  }

  private static long clockTicks() {
    try {
      Process getconf = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
      String out = new String(getconf.getInputStream().readAllBytes()).trim();
      getconf.waitFor(5, TimeUnit.SECONDS);
      return Long.parseLong(out);
    } catch (IOException | RuntimeException e) {
      return 100;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 100;
    }
  }
}
