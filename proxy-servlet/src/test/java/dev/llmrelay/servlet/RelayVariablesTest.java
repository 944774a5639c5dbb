package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.RelayConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Settings by name: the environment first, then a {@code .env} file; and the servlet's own RELAY_API_KEYS. */
class RelayVariablesTest {

  @Test
  void theEnvironmentWinsOverTheDotenvFileWhichFillsTheGaps(@TempDir Path dir) throws Exception {
    Path dotenv = dir.resolve(".env");
    Files.writeString(dotenv, String.join("\n",
        "# a comment",
        "export MAX_ATTEMPTS=5",
        "MAX_CONCURRENT_REQUESTS = \"4\"",
        "UPSTREAM_API_KEY='sk-from-file'",
        "RELAY_API_KEYS=k1 # inline comment",
        ""));

    Map<String, String> vars = RelayVariables.fromEnvironment(Map.of("MAX_ATTEMPTS", "2"), dotenv);
    RelayConfig c = RelayConfig.fromEnvironment(vars);

    assertThat(c.maxAttempts()).as("environment wins").isEqualTo(2);
    assertThat(c.maxConcurrentRequests()).as("quoted value from .env").isEqualTo(4);
    assertThat(c.upstreamApiKey()).contains("sk-from-file");
    assertThat(RelayVariables.proxyKeys(vars)).containsExactly("k1");
  }

  @Test
  void aMalformedDotenvLineIsReportedByLineNumberWithoutItsValue(@TempDir Path dir) throws Exception {
    Path dotenv = dir.resolve(".env");
    Files.writeString(dotenv, "MAX_ATTEMPTS=2\nsk-secret-without-equals\n");
    assertThatThrownBy(() -> RelayVariables.fromEnvironment(Map.of(), dotenv))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("line 2")
        .hasMessageNotContaining("sk-secret");
  }

  @Test
  void aMissingDotenvFileIsFine(@TempDir Path dir) {
    assertThat(RelayVariables.fromEnvironment(Map.of("A", "1"), dir.resolve("absent.env"))).containsExactly(Map.entry("A", "1"));
  }

  @Test
  void proxyKeysAreTrimmedWithoutBlanksOrRepeats() {
    assertThat(RelayVariables.proxyKeys(Map.of("RELAY_API_KEYS", "k1, k2,,k1 "))).containsExactly("k1", "k2");
    assertThat(RelayVariables.proxyKeys(Map.of())).isEmpty();
  }
}
