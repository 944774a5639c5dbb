package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ProductJarContents} finds each kind of problem: the check of {@code ProductJarIT} can fail. */
class ProductJarContentsTest {
  @TempDir Path dir;

  /** A jar with everything a good llmrelay.jar has, as entry name to text. */
  private static Map<String, String> goodEntries() {
    Map<String, String> entries = new LinkedHashMap<>();
    for (String name : ProductJarContents.REQUIRED_CLASSES) {
      entries.put(name, "class bytes");
    }
    entries.put("META-INF/LICENSE", "Apache License\nVersion 2.0, January 2004\n");
    for (String path : ProductJarContents.REQUIRED_THIRD_PARTY_FILES) {
      entries.put("META-INF/third-party/" + path, "license or notice text");
    }
    StringBuilder listing = new StringBuilder();
    for (String artifact : ProductJarContents.REQUIRED_IN_LISTING) {
      listing.append("(Some License) name (").append(artifact).append(":1.0 - url)\n");
    }
    entries.put("THIRD-PARTY.txt", listing.toString());
    return entries;
  }

  private Path jar(Map<String, String> entries) throws IOException {
    Path jar = Files.createTempFile(dir, "llmrelay", ".jar");
    try (OutputStream file = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(file)) {
      for (Map.Entry<String, String> entry : entries.entrySet()) {
        out.putNextEntry(new JarEntry(entry.getKey()));
        out.write(entry.getValue().getBytes(StandardCharsets.UTF_8));
        out.closeEntry();
      }
    }
    return jar;
  }

  @Test
  void aGoodJarHasNoProblems() throws Exception {
    assertThat(ProductJarContents.problems(jar(goodEntries()))).isEmpty();
  }

  @Test
  void benchmarkOrTestClassesInTheJarAreProblems() throws Exception {
    Map<String, String> entries = goodEntries();
    entries.put("dev/llmrelay/example/bench/Bench.class", "x");
    entries.put("mockwebserver3/MockWebServer.class", "x");
    entries.put("org/junit/jupiter/api/Test.class", "x");

    assertThat(ProductJarContents.problems(jar(entries))).containsExactlyInAnyOrder(
        "not product code: dev/llmrelay/example/bench/Bench.class",
        "not product code: mockwebserver3/MockWebServer.class",
        "not product code: org/junit/jupiter/api/Test.class");
  }

  @Test
  void aLostLicenseOrNoticeOrOneNoticeForAllAreProblems() throws Exception {
    Map<String, String> entries = goodEntries();
    entries.remove("META-INF/third-party/micrometer-core/NOTICE");
    entries.put("META-INF/LICENSE", "The MIT License");
    entries.put("META-INF/NOTICE", "Jackson notice");
    entries.remove("THIRD-PARTY.txt");

    assertThat(ProductJarContents.problems(jar(entries))).containsExactlyInAnyOrder(
        "missing META-INF/third-party/micrometer-core/NOTICE",
        "META-INF/LICENSE is not llmrelay's license (Apache License 2.0)",
        "META-INF/NOTICE: one dependency's notice standing for all (llmrelay has none of its own)",
        "missing THIRD-PARTY.txt");
  }

  @Test
  void aMissingLauncherOrSimulatorIsAProblem() throws Exception {
    Map<String, String> entries = goodEntries();
    entries.remove("dev/llmrelay/example/simulate/SimulatedUpstream.class");

    assertThat(ProductJarContents.problems(jar(entries)))
        .containsExactly("missing dev/llmrelay/example/simulate/SimulatedUpstream.class");
  }
}
