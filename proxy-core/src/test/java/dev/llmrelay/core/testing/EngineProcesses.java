package dev.llmrelay.core.testing;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Duration;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What {@link PostgresEngine} and {@link RedisEngine} share: finding binaries, running commands
 * with their output in a log file, free loopback ports, temp directories, and the watchdog that
 * cleans up after a JVM that died without running its shutdown hooks.
 */
final class EngineProcesses {
  /** The only address the engines listen on and tests connect to. */
  static final String HOST = "127.0.0.1";

  private static final Path DEV_NULL = Path.of("/dev/null");

  private EngineProcesses() {}

  /** True when this JVM runs as root (uid 0). */
  static boolean isRoot() {
    try {
      // /proc/self belongs to the process's effective user.
      return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return "root".equals(System.getProperty("user.name"));
    }
  }

  /** The named user, if this machine has it. */
  static Optional<UserPrincipal> user(String name) {
    try {
      return Optional.of(FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName(name));
    } catch (UserPrincipalNotFoundException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The first of {@code name} in {@code extraDirs} and then on PATH that is an executable file. */
  static Optional<Path> findExecutable(String name, List<Path> extraDirs) {
    List<Path> dirs = new ArrayList<>(extraDirs);
    String path = System.getenv("PATH");
    if (path != null) {
      for (String dir : path.split(File.pathSeparator)) {
        if (!dir.isEmpty()) {
          dirs.add(Path.of(dir));
        }
      }
    }
    return dirs.stream().map(dir -> dir.resolve(name)).filter(EngineProcesses::isExecutable).findFirst();
  }

  /**
   * Whether {@code process} has ended: gone, or a zombie waiting for its parent to reap it (a
   * daemon such as the postmaster is reparented to PID 1, which on some machines reaps only
   * every few seconds; {@link ProcessHandle#isAlive()} counts a zombie as alive).
   */
  static boolean hasEnded(ProcessHandle process) {
    if (!process.isAlive()) {
      return true;
    }
    try {
      String stat = String.join(" ", Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "stat")));
      // pid (comm) state ...: comm may hold spaces and parentheses, the state follows the last ')'.
      int end = stat.lastIndexOf(')');
      return end > 0 && end + 2 < stat.length() && stat.charAt(end + 2) == 'Z';
    } catch (IOException e) {
      return !process.isAlive();
    }
  }

  static boolean isExecutable(Path file) {
    return Files.isRegularFile(file) && Files.isExecutable(file);
  }

  /**
   * A loopback port nobody listens on right now. Another process may take it before the engine
   * binds it: the engines retry with a fresh port when their first start fails that way.
   *
   * <p>Taken below the kernel's ephemeral range when it can be: ports in that range are handed
   * out to every outgoing connection and every server that binds port 0 (most tests' servers),
   * so one of them could take an engine's port while the engine is stopped for a restart test.
   */
  static int freePort() {
    int ephemeralLow = ephemeralRangeStart();
    for (int attempt = 0; ephemeralLow > 10_100 && attempt < 50; attempt++) {
      int candidate = ThreadLocalRandom.current().nextInt(10_000, ephemeralLow);
      if (bindable(candidate)) {
        return candidate;
      }
    }
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress(InetAddress.getByName(HOST), 0), 1);
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free port on " + HOST, e);
    }
  }

  private static boolean bindable(int port) {
    try (ServerSocket socket = new ServerSocket()) {
      socket.setReuseAddress(false);
      socket.bind(new InetSocketAddress(InetAddress.getByName(HOST), port), 1);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** The first port of Linux's ephemeral range (32768 by default), or 0 if unknown. */
  private static int ephemeralRangeStart() {
    try {
      // readAllLines, not readString: on procfs' sysctl files readAllBytes returns one byte.
      String range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0).strip();
      return Integer.parseInt(range.split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }

  /**
   * A new private directory for an engine. When {@code traversableByOthers} (an engine that runs
   * as another user), it is made under a base whose every ancestor others may enter: the JVM's
   * temp directory if so, else /tmp.
   */
  static Path createEngineDirectory(String prefix, boolean traversableByOthers) throws IOException {
    Path base = Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath();
    if (traversableByOthers && !traversableByOthers(base)) {
      base = Path.of("/tmp");
      if (!traversableByOthers(base)) {
        throw new IOException("neither java.io.tmpdir nor /tmp can be entered by other users: "
            + "the engine's own user could not reach its directory");
      }
    }
    Files.createDirectories(base);
    return Files.createTempDirectory(base, prefix).toRealPath();
  }

  private static boolean traversableByOthers(Path dir) {
    try {
      for (Path p = dir.toRealPath(); p != null; p = p.getParent()) {
        if (!Files.getPosixFilePermissions(p).contains(PosixFilePermission.OTHERS_EXECUTE)) {
          return false;
        }
      }
      return true;
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
  }

  /** Deletes {@code dir} and everything in it, quietly. */
  static void deleteTree(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          // best effort: a file the engine is still writing goes with the watchdog's rm -rf
        }
      });
    } catch (IOException | UncheckedIOException e) {
      // best effort
    }
  }

  /**
   * Runs {@code command} in {@code workDir} with stdin from /dev/null and stdout and stderr
   * appended to {@code log}, after a line naming the command; kills it and its children after
   * {@code timeout}.
   *
   * @return the exit code
   */
  static int run(List<String> command, Path workDir, Path log, Duration timeout, String... environment)
      throws IOException {
    append(log, "\n" + LocalTime.now() + " $ " + String.join(" ", command) + "\n");
    ProcessBuilder builder = new ProcessBuilder(command)
        .directory(workDir.toFile())
        .redirectInput(DEV_NULL.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    cleanEnvironment(builder);
    for (int i = 0; i + 1 < environment.length; i += 2) {
      builder.environment().put(environment[i], environment[i + 1]);
    }
    Process process = builder.start();
    try {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        append(log, LocalTime.now() + " (killed: still running after " + timeout.toSeconds() + " s)\n");
        return -1;
      }
      return process.exitValue();
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + command, e);
    }
  }

  /** Drops the caller's PG* and REDIS* settings, which would point the tools elsewhere. */
  static void cleanEnvironment(ProcessBuilder builder) {
    builder.environment().keySet().removeIf(k -> k.startsWith("PG") || k.startsWith("REDIS"));
  }

  static void append(Path log, String text) throws IOException {
    Files.writeString(log, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  /** The last {@code maxChars} or so of {@code file}, for an exception message; never throws. */
  static String tail(Path file, int maxChars) {
    if (file == null || !Files.isReadable(file)) {
      return "(no " + file + ")";
    }
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
      long start = Math.max(0, raf.length() - maxChars);
      raf.seek(start);
      byte[] bytes = new byte[(int) (raf.length() - start)];
      raf.readFully(bytes);
      return (start > 0 ? "[...]" : "") + new String(bytes, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(could not read " + file + ": " + e + ")";
    }
  }

  /** {@code s} quoted for /bin/sh. */
  static String shellQuote(String s) {
    return "'" + s.replace("'", "'\"'\"'") + "'";
  }

  /**
   * A dead man's switch: a small /bin/sh process that waits for its stdin to close, then runs
   * {@code cleanup} (sh code; {@code $last} holds the last line it was sent). Its stdin is a pipe
   * only this JVM holds, so it closes when the JVM ends however it ends: after {@link #close()},
   * at a normal exit, and also after a SIGKILL or {@code Runtime.halt}, which run no shutdown
   * hook. It ignores SIGINT, SIGTERM and SIGHUP, so a Ctrl-C that takes the JVM's process group
   * down still leaves it to clean up.
   */
  static final class Watchdog implements AutoCloseable {
    private final Process process;
    private final OutputStream stdin;

    Watchdog(String cleanup) throws IOException {
      String script = "trap '' INT TERM HUP\n"
          + "last=\n"
          + "while IFS= read -r line; do last=$line; done\n"
          + cleanup + "\n";
      process = new ProcessBuilder("/bin/sh", "-c", script)
          .redirectOutput(DEV_NULL.toFile())
          .redirectErrorStream(true)
          .start();
      stdin = process.getOutputStream();
    }

    /** Tells the watchdog a line its cleanup reads as {@code $last} (a pid, or "" for none). */
    synchronized void tell(String line) {
      try {
        stdin.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        stdin.flush();
      } catch (IOException e) {
        // the watchdog is gone; the shutdown hook still cleans up
      }
    }

    /** Lets it run its cleanup now and waits a little for it. */
    @Override
    public synchronized void close() {
      try {
        stdin.close();
      } catch (IOException e) {
        // closed already
      }
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
