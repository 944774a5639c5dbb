package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RequestIdsTest {
  @Test
  void clientIdIsKeptWhenItIsShortVisibleAscii() {
    assertThat(RequestIds.fromClient("req_01HZX-abc.123")).as("plain id").isEqualTo("req_01HZX-abc.123");
    assertThat(RequestIds.fromClient("x".repeat(128))).as("128 characters").hasSize(128);
  }

  @Test
  void unsafeOrMissingIdIsReplacedByAUuid() {
    for (String bad : new String[] {null, "", "x".repeat(129), "a b", "a\r\nX-Evil: 1", "caf\u00e9", "tab\t"}) {
      assertThat(RequestIds.fromClient(bad)).as("id for <%s>", bad).matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    }
  }
}
