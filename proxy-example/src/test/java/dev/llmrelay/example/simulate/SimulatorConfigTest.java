package dev.llmrelay.example.simulate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SimulatorConfigTest {

  @Test
  void emptyEnvironmentGivesTheDocumentedDefaults() {
    SimulatorConfig config = SimulatorConfig.fromEnvironment(Map.of());

    assertThat(config.port()).as("SIM_PORT").isZero();
    assertThat(config.latency()).as("SIM_LATENCY_MS").isEqualTo(Duration.ofMillis(300));
    assertThat(config.streamChunks()).as("SIM_STREAM_CHUNKS").isEqualTo(20);
    assertThat(config.chunkDelay()).as("SIM_CHUNK_DELAY_MS").isEqualTo(Duration.ofMillis(50));
    assertThat(config.timeoutRate()).as("SIM_TIMEOUT_RATE").isEqualTo(0.05);
    assertThat(config.errorRate()).as("SIM_ERROR_RATE").isEqualTo(0.10);
    assertThat(config.rateLimitRate()).as("SIM_RATE_LIMIT_RATE").isEqualTo(0.05);
    assertThat(config.streamCutRate()).as("SIM_STREAM_CUT_RATE").isEqualTo(0.0);
    assertThat(config.timeoutHold()).as("SIM_TIMEOUT_HOLD_MS").isEqualTo(Duration.ofMinutes(5));
  }

  @Test
  void everyVariableIsReadFromTheEnvironment() {
    Map<String, String> environment = Map.ofEntries(
        Map.entry("SIM_PORT", "5123"),
        Map.entry("SIM_LATENCY_MS", "0"),
        Map.entry("SIM_STREAM_CHUNKS", " 7 "),
        Map.entry("SIM_CHUNK_DELAY_MS", "15"),
        Map.entry("SIM_TIMEOUT_RATE", "0"),
        Map.entry("SIM_ERROR_RATE", "0.5"),
        Map.entry("SIM_RATE_LIMIT_RATE", "1"),
        Map.entry("SIM_STREAM_CUT_RATE", "0.25"),
        Map.entry("SIM_SEED", "-42"),
        Map.entry("SIM_TIMEOUT_HOLD_MS", "1500"),
        Map.entry("UNRELATED", "ignored"));

    SimulatorConfig config = SimulatorConfig.fromEnvironment(environment);

    assertThat(config.port()).as("port").isEqualTo(5123);
    assertThat(config.latency()).as("latency").isZero();
    assertThat(config.streamChunks()).as("stream chunks, blanks trimmed").isEqualTo(7);
    assertThat(config.chunkDelay()).as("chunk delay").isEqualTo(Duration.ofMillis(15));
    assertThat(config.timeoutRate()).as("timeout rate").isZero();
    assertThat(config.errorRate()).as("error rate").isEqualTo(0.5);
    assertThat(config.rateLimitRate()).as("rate-limit rate").isEqualTo(1.0);
    assertThat(config.streamCutRate()).as("stream-cut rate").isEqualTo(0.25);
    assertThat(config.seed()).as("seed").isEqualTo(-42L);
    assertThat(config.timeoutHold()).as("timeout hold").isEqualTo(Duration.ofMillis(1500));
  }

  @Test
  void blankVariablesKeepTheirDefaults() {
    SimulatorConfig config =
        SimulatorConfig.fromEnvironment(Map.of("SIM_ERROR_RATE", "  ", "SIM_LATENCY_MS", ""));

    assertThat(config.errorRate()).as("blank SIM_ERROR_RATE").isEqualTo(0.10);
    assertThat(config.latency()).as("empty SIM_LATENCY_MS").isEqualTo(Duration.ofMillis(300));
  }

  @ParameterizedTest(name = "{0}={1}")
  @CsvSource({
    "SIM_ERROR_RATE, abc",
    "SIM_ERROR_RATE, 1.5",
    "SIM_TIMEOUT_RATE, -0.1",
    "SIM_RATE_LIMIT_RATE, NaN",
    "SIM_STREAM_CUT_RATE, 2",
    "SIM_LATENCY_MS, -1",
    "SIM_LATENCY_MS, fast",
    "SIM_CHUNK_DELAY_MS, 1.5",
    "SIM_STREAM_CHUNKS, 1",
    "SIM_STREAM_CHUNKS, many",
    "SIM_SEED, seed",
    "SIM_PORT, 70000",
    "SIM_TIMEOUT_HOLD_MS, 0",
  })
  void invalidValueIsRejectedWithAMessageNamingTheVariable(String variable, String value) {
    assertThatIllegalArgumentException()
        .as("%s=%s", variable, value)
        .isThrownBy(() -> SimulatorConfig.fromEnvironment(Map.of(variable, value)))
        .withMessageContaining(variable)
        .withMessageContaining(value);
  }

  @Test
  void builderRejectsARateAboveOneNamingItsVariable() {
    assertThatIllegalArgumentException()
        .as("errorRate(1.01)")
        .isThrownBy(() -> SimulatorConfig.builder().errorRate(1.01))
        .withMessageContaining("SIM_ERROR_RATE");
  }

  @Test
  void randomSeedIsChosenOnceAndKeptByToBuilder() {
    SimulatorConfig config = SimulatorConfig.builder().build();

    SimulatorConfig copy = config.toBuilder().errorRate(0.3).build();

    assertThat(copy.seed()).as("seed carried over by toBuilder").isEqualTo(config.seed());
    assertThat(copy.errorRate()).as("changed rate").isEqualTo(0.3);
  }
}
