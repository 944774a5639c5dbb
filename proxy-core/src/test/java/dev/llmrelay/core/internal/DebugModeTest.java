package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DebugModeTest {
  @Test
  void theDebugFileTurnsDebugModeOnAndOffWithoutRestart(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("DEBUG_MODE.txt");
    DebugMode debug = new DebugMode(false, file);
    assertThat(debug.enabled()).isFalse();

    Files.writeString(file, "");
    await().atMost(Duration.ofSeconds(3)).until(debug::enabled);

    Files.delete(file);
    await().atMost(Duration.ofSeconds(3)).until(() -> !debug.enabled());
  }

  @Test
  void theEnvironmentFlagIsAlwaysOn() {
    assertThat(new DebugMode(true, null).enabled()).isTrue();
    assertThat(new DebugMode(false, null).enabled()).isFalse();
  }
}
