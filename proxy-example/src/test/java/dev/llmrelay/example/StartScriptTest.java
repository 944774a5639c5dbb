package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The start script users run ({@code src/main/sh/llmrelay}, copied by the build to {@code
 * target/llmrelay} next to the jar), run by {@code /bin/sh} with a fake {@code java} that prints
 * its process id and its arguments, one per line: which flags it passes, in which order, which
 * java it picks, that arguments pass through unchanged and that it {@code exec}s the JVM.
 */
class StartScriptTest {
  static final Path SCRIPT = Path.of(System.getProperty("basedir", "."), "src/main/sh/llmrelay"); // tests run in target/test-work
  static final List<String> DEFAULT_FLAGS =
      List.of("-XX:+UseSerialGC", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError");

  @TempDir Path dir;
  private Path install;
  private Path fakeJavaBin;

  @BeforeEach
  void installScriptBesideAJar() throws IOException {
    install = Files.createDirectories(dir.resolve("install"));
    Files.copy(SCRIPT, install.resolve("llmrelay"));
    Files.writeString(install.resolve("llmrelay.jar"), "not a real jar: the fake java never opens it");
    fakeJavaBin = fakeJava(dir.resolve("path-bin"), "path");
  }

  /** A {@code java} that prints {@code which=WHICH}, {@code pid=$$} and then each argument on a line. */
  private static Path fakeJava(Path bin, String which) throws IOException {
    Files.createDirectories(bin);
    Path java = bin.resolve("java");
    Files.writeString(java, "#!/bin/sh\necho \"which=" + which + "\"\necho \"pid=$$\"\n"
        + "for a in \"$@\"; do echo \"arg=$a\"; done\n");
    Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
    return bin;
  }

  private record Run(int exitCode, long shellPid, String which, long javaPid, List<String> args, String stderr) {}

  private Run run(Path script, Map<String, String> env, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("/bin/sh", script.toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
    builder.environment().clear();
    builder.environment().put("PATH", fakeJavaBin + ":/usr/bin:/bin");
    builder.environment().putAll(env);
    Process process = builder.start();
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(20, TimeUnit.SECONDS)).as("script finished").isTrue();
    String which = null;
    long javaPid = -1;
    List<String> javaArgs = new ArrayList<>();
    for (String line : out.split("\n")) {
      if (line.startsWith("which=")) {
        which = line.substring(6);
      } else if (line.startsWith("pid=")) {
        javaPid = Long.parseLong(line.substring(4));
      } else if (line.startsWith("arg=")) {
        javaArgs.add(line.substring(4));
      }
    }
    return new Run(process.exitValue(), process.pid(), which, javaPid, javaArgs, err);
  }

  /** The script names the jar by its real path ({@code pwd -P}). */
  private Path realInstall() {
    try {
      return install.toRealPath();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private List<String> withJar(List<String> flags, String... args) {
    List<String> expected = new ArrayList<>(flags);
    expected.add("-jar");
    expected.add(realInstall().resolve("llmrelay.jar").toString());
    expected.addAll(List.of(args));
    return expected;
  }

  @Test
  void withoutOptionsItRunsTheJarNextToItWithTheMeasuredFlagsAndPassesArgumentsUnchanged() throws Exception {
    Run run = run(install.resolve("llmrelay"), Map.of(), "--simulate", "two words", "*");

    assertThat(run.exitCode()).as(run.stderr()).isZero();
    assertThat(run.which()).as("java from PATH").isEqualTo("path");
    assertThat(run.args()).isEqualTo(withJar(DEFAULT_FLAGS, "--simulate", "two words", "*"));
  }

  @Test
  void itExecsTheJvmSoThatItsPidAndSignalsAreTheJvms() throws Exception {
    Run run = run(install.resolve("llmrelay"), Map.of());

    assertThat(run.javaPid()).as("the java process is the script's own process (exec)").isEqualTo(run.shellPid());
  }

  @Test
  void javaOptsComeAfterTheDefaultsAndLlmrelayJavaOptsLast() throws Exception {
    Run run = run(install.resolve("llmrelay"),
        Map.of("JAVA_OPTS", "-Dfrom=java_opts -Xss512k", "LLMRELAY_JAVA_OPTS", "-Dfrom=llmrelay -Xss1m"));

    // The JVM takes the last of a repeated flag: LLMRELAY_JAVA_OPTS wins over JAVA_OPTS over the defaults.
    assertThat(run.args()).isEqualTo(withJar(List.of("-XX:+UseSerialGC", "-Xmx512m",
        "-XX:+ExitOnOutOfMemoryError", "-Dfrom=java_opts", "-Xss512k", "-Dfrom=llmrelay", "-Xss1m")));
  }

  @Test
  void aHeapSizeOrCollectorOfTheUserReplacesTheDefaultOneInsteadOfFollowingIt() throws Exception {
    Run heap = run(install.resolve("llmrelay"), Map.of("JAVA_OPTS", "-XX:MaxRAMPercentage=50"));
    Run gc = run(install.resolve("llmrelay"), Map.of("LLMRELAY_JAVA_OPTS", "-XX:+UseG1GC -Xmx1g"));

    // -Xmx512m would beat MaxRAMPercentage wherever it stood, and the JVM refuses two collectors.
    assertThat(heap.args()).isEqualTo(withJar(List.of(
        "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-XX:MaxRAMPercentage=50")));
    assertThat(gc.args()).isEqualTo(withJar(List.of("-XX:+ExitOnOutOfMemoryError", "-XX:+UseG1GC", "-Xmx1g")));
  }

  @Test
  void javaHomeWinsOverPathAndAMissingJavaThereIsNamed() throws Exception {
    Path javaHome = dir.resolve("jdk");
    fakeJava(javaHome.resolve("bin"), "java_home");

    Run run = run(install.resolve("llmrelay"), Map.of("JAVA_HOME", javaHome.toString()));
    Run broken = run(install.resolve("llmrelay"), Map.of("JAVA_HOME", dir.resolve("no-jdk").toString()));

    assertThat(run.which()).isEqualTo("java_home");
    assertThat(broken.exitCode()).isEqualTo(1);
    assertThat(broken.stderr()).contains("JAVA_HOME").contains("no-jdk");
  }

  @Test
  void throughASymlinkItStillFindsTheJarNextToTheRealScript() throws Exception {
    Path link = Files.createDirectories(dir.resolve("usr-local-bin")).resolve("llmrelay");
    Files.createSymbolicLink(link, install.resolve("llmrelay"));

    Run run = run(link, Map.of());

    assertThat(run.exitCode()).as(run.stderr()).isZero();
    assertThat(run.args()).contains(realInstall().resolve("llmrelay.jar").toString());
  }

  @Test
  void withoutAJarNextToItItSaysWhereItLooked() throws Exception {
    Files.delete(install.resolve("llmrelay.jar"));

    Run run = run(install.resolve("llmrelay"), Map.of());

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.stderr()).contains("no llmrelay.jar next to this script").contains(install.toString());
    assertThat(run.javaPid()).as("java never started").isEqualTo(-1);
  }
}
