package dev.llmrelay.example;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * What {@code llmrelay.jar}, the jar users run, must and must not hold: the launcher and its
 * simulator but no benchmark or test code (issue 12, point 6), llmrelay's own license and every
 * bundled dependency's license and notice files, each under a directory of its own so none
 * overwrote another (point 5). {@link #problems} lists what is wrong with a jar; {@code ProductJarIT}
 * applies it to the built jar in {@code verify}, {@code ProductJarContentsTest} shows that it finds
 * each kind of problem.
 */
final class ProductJarContents {
  /** Benchmark and test code: none of it belongs in the product. */
  static final List<String> FORBIDDEN_PREFIXES = List.of(
      "dev/llmrelay/example/bench/", "mockwebserver3/", "okhttp3/mockwebserver/", "org/junit/",
      "junit/", "org/assertj/", "org/awaitility/", "dev/llmrelay/core/testing/");

  /** What the launcher runs: its main class and the simulator behind {@code --simulate}. */
  static final List<String> REQUIRED_CLASSES = List.of(
      "dev/llmrelay/example/RelayMain.class", "dev/llmrelay/example/simulate/SimulatedUpstream.class");

  /**
   * Dependencies' own license and notice files, each under META-INF/third-party/ARTIFACT/. Before,
   * shade kept one META-INF/LICENSE and NOTICE of seven jars and one LICENSE.txt of two.
   */
  static final List<String> REQUIRED_THIRD_PARTY_FILES = List.of(
      "jackson-core/LICENSE", "jackson-core/NOTICE", "jackson-core/FastDoubleParser-LICENSE",
      "jackson-databind/LICENSE", "jackson-databind/NOTICE", "jackson-annotations/LICENSE",
      "micrometer-core/LICENSE", "micrometer-core/NOTICE", "micrometer-commons/NOTICE",
      "micrometer-observation/NOTICE", "micrometer-registry-prometheus/NOTICE",
      "slf4j-api/LICENSE.txt", "HdrHistogram/LICENSE.txt");

  /** Artifacts without license files of their own: THIRD-PARTY.txt names their licenses. */
  static final List<String> REQUIRED_IN_LISTING = List.of(
      "org.eclipse.jetty:jetty-server", "ch.qos.logback:logback-classic", "com.squareup.okhttp3:okhttp-jvm",
      "jakarta.servlet:jakarta.servlet-api", "io.prometheus:prometheus-metrics-core", "dev.failsafe:failsafe");

  private ProductJarContents() {}

  static List<String> problems(Path jar) throws IOException {
    List<String> problems = new ArrayList<>();
    try (JarFile file = new JarFile(jar.toFile())) {
      List<String> names = file.stream().map(JarEntry::getName).toList();
      for (String name : names) {
        for (String prefix : FORBIDDEN_PREFIXES) {
          if (name.startsWith(prefix)) {
            problems.add("not product code: " + name);
          }
        }
      }
      for (String name : REQUIRED_CLASSES) {
        if (!names.contains(name)) {
          problems.add("missing " + name);
        }
      }
      String license = text(file, "META-INF/LICENSE");
      if (license == null || !license.contains("Apache License") || !license.contains("Version 2.0")) {
        problems.add("META-INF/LICENSE is not llmrelay's license (Apache License 2.0)");
      }
      if (names.contains("META-INF/NOTICE")) {
        problems.add("META-INF/NOTICE: one dependency's notice standing for all (llmrelay has none of its own)");
      }
      for (String path : REQUIRED_THIRD_PARTY_FILES) {
        String text = text(file, "META-INF/third-party/" + path);
        if (text == null || text.isBlank()) {
          problems.add("missing META-INF/third-party/" + path);
        }
      }
      String listing = text(file, "THIRD-PARTY.txt");
      if (listing == null) {
        problems.add("missing THIRD-PARTY.txt");
      } else {
        for (String artifact : REQUIRED_IN_LISTING) {
          if (!listing.contains(artifact + ":")) {
            problems.add("THIRD-PARTY.txt does not name " + artifact);
          }
        }
      }
    }
    return problems;
  }

  private static String text(JarFile file, String name) throws IOException {
    JarEntry entry = file.getJarEntry(name);
    if (entry == null) {
      return null;
    }
    try (InputStream in = file.getInputStream(entry)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
