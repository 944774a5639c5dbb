package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.RelayConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Settings by name. For the launcher: the environment first, then a {@code .env} file. For a web
 * application (issue 12, point 2): the servlet's init parameters, the context parameters, the
 * environment, then the {@code .env} file named by LLMRELAY_DOTENV, never the working directory's.
 * And the servlet adapter's own settings: RELAY_API_KEYS, LLMRELAY_PATH_PREFIX.
 */
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

  @Test
  void inAWebappTheServletBeatsTheContextWhichBeatsTheEnvironmentWhichBeatsTheNamedDotenv(@TempDir Path dir)
      throws Exception {
    Path dotenv = dir.resolve("relay.env");
    Files.writeString(dotenv, String.join("\n",
        "MAX_ATTEMPTS=9", "MAX_CONCURRENT_REQUESTS=9", "MAX_QUEUED_REQUESTS=9", "MAX_WAIT_SECONDS=9", ""));
    Map<String, String> environment = Map.of(
        "MAX_ATTEMPTS", "8", "MAX_CONCURRENT_REQUESTS", "8", "MAX_QUEUED_REQUESTS", "8");
    var context = FakeWebapp.context(Map.of(
        "MAX_ATTEMPTS", "7", "MAX_CONCURRENT_REQUESTS", "7", RelayVariables.DOTENV, dotenv.toString()));
    var servlet = FakeWebapp.servlet(context, Map.of("MAX_ATTEMPTS", "6"));

    RelayConfig c = RelayConfig.fromEnvironment(RelayVariables.fromWebapp(context, servlet, environment));

    assertThat(c.maxAttempts()).as("servlet init-param over everything").isEqualTo(6);
    assertThat(c.maxConcurrentRequests()).as("context-param over the environment").isEqualTo(7);
    assertThat(c.maxQueuedRequests()).as("environment over the .env file").isEqualTo(8);
    assertThat(c.maxWait()).as("the .env file fills the gaps").hasSeconds(9);
  }

  @Test
  void aBlankWebappValueCountsAsUnsetAndTheNextSourceDecides() {
    var context = FakeWebapp.context(Map.of("MAX_ATTEMPTS", "  ", "UPSTREAM_API_KEY", ""));
    Map<String, String> vars = RelayVariables.fromWebapp(
        context, null, Map.of("MAX_ATTEMPTS", "4", "UPSTREAM_API_KEY", "sk-env"));

    assertThat(vars).containsEntry("MAX_ATTEMPTS", "4").containsEntry("UPSTREAM_API_KEY", "sk-env");
  }

  @Test
  void withoutLlmrelayDotenvNoFileIsReadAndTheDotenvMayAlsoBeNamedByTheEnvironment(@TempDir Path dir) throws Exception {
    Path dotenv = dir.resolve("shared.env");
    Files.writeString(dotenv, "MAX_ATTEMPTS=5\n");
    var context = FakeWebapp.context(Map.of());

    assertThat(RelayVariables.fromWebapp(context, null, Map.of("A", "1"))).as("no file named").containsOnlyKeys("A");
    assertThat(RelayVariables.fromWebapp(context, null, Map.of(RelayVariables.DOTENV, dotenv.toString())))
        .as("named by the environment")
        .containsEntry("MAX_ATTEMPTS", "5");
  }

  @Test
  void aRelativeOrMissingDotenvFailsNamingTheSetting(@TempDir Path dir) {
    assertThatThrownBy(() -> RelayVariables.fromWebapp(FakeWebapp.context(Map.of(RelayVariables.DOTENV, "relay.env")), null, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("LLMRELAY_DOTENV")
        .hasMessageContaining("absolute");
    String missing = dir.resolve("missing.env").toString();
    assertThatThrownBy(() -> RelayVariables.fromWebapp(FakeWebapp.context(Map.of(RelayVariables.DOTENV, missing)), null, Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("LLMRELAY_DOTENV")
        .hasMessageContaining("no readable file");
  }

  @Test
  void thePathPrefixIsValidatedNamingTheSetting() {
    assertThat(RelayVariables.pathPrefix(Map.of(), "/llm")).as("default").isEqualTo("/llm");
    assertThat(RelayVariables.pathPrefix(Map.of(RelayVariables.PATH_PREFIX, "/"), "/llm")).as("root").isEmpty();
    assertThat(RelayVariables.pathPrefix(Map.of(RelayVariables.PATH_PREFIX, "/ai/chat"), "/llm")).isEqualTo("/ai/chat");
    assertThatThrownBy(() -> RelayVariables.pathPrefix(Map.of(RelayVariables.PATH_PREFIX, "/llm/*"), "/llm"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("Invalid LLMRELAY_PATH_PREFIX: ")
        .hasMessageContaining("wildcard");
  }
}
