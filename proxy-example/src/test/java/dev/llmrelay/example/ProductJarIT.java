package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The built {@code target/llmrelay.jar} and the start script beside it, checked in {@code verify}
 * (failsafe, after {@code package}): see {@link ProductJarContents}.
 */
class ProductJarIT {
  static Path builtJar() {
    String property = System.getProperty("llmrelay.jar");
    assertThat(property).as("system property llmrelay.jar (set by the pom)").isNotBlank();
    Path jar = Path.of(property);
    assertThat(jar).as("the shaded jar").isRegularFile();
    return jar;
  }

  @Test
  void theJarUsersRunHoldsTheLauncherAndLicensesButNoBenchmarkOrTestCode() throws Exception {
    assertThat(ProductJarContents.problems(builtJar())).as("problems of " + builtJar()).isEmpty();
  }

  @Test
  void theStartScriptIsBesideTheJarAndExecutable() {
    Path script = builtJar().resolveSibling("llmrelay");

    assertThat(script).isRegularFile();
    assertThat(Files.isExecutable(script)).as(script + " executable").isTrue();
  }
}
