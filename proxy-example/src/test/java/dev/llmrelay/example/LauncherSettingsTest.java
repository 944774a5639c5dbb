package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The launcher's own settings: where it listens, the proxy keys, the shutdown wait. */
class LauncherSettingsTest {

  @Test
  void defaultsAreLoopbackPort5000NoKeysAnd30Seconds() {
    LauncherSettings s = LauncherSettings.fromVariables(Map.of());
    assertThat(s.host()).isEqualTo("127.0.0.1");
    assertThat(s.port()).isEqualTo(5000);
    assertThat(s.proxyKeys()).isEmpty();
    assertThat(s.shutdownTimeout()).isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void everyVariableIsReadAndTheKeysNeverShow() {
    LauncherSettings s = LauncherSettings.fromVariables(Map.of(
        "RELAY_HOST", " 0.0.0.0 ", "RELAY_PORT", "8080", "RELAY_API_KEYS", "k1, k2,,k1", "SHUTDOWN_TIMEOUT_SECONDS", "2.5"));
    assertThat(s.host()).isEqualTo("0.0.0.0");
    assertThat(s.port()).isEqualTo(8080);
    assertThat(s.proxyKeys()).containsExactly("k1", "k2");
    assertThat(s.shutdownTimeout()).isEqualTo(Duration.ofMillis(2500));
    assertThat(s.toString()).contains("proxyKeys=2").doesNotContain("k1");
  }

  @ParameterizedTest(name = "{0}={1}")
  @CsvSource({"RELAY_PORT, 70000", "RELAY_PORT, eighty", "RELAY_PORT, -1", "SHUTDOWN_TIMEOUT_SECONDS, -1", "SHUTDOWN_TIMEOUT_SECONDS, soon"})
  void aBadValueFailsStartUpNamingItsVariable(String name, String value) {
    assertThatThrownBy(() -> LauncherSettings.fromVariables(Map.of(name, value)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(name);
  }
}
