package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.RelayException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The status-to-error map of the container's own errors (the socket-level behaviour is in ContainerResponsesTest). */
class JsonErrorHandlerTest {

  @Test
  void aClientErrorKeepsJettysReasonAndAServerErrorDoesNot() {
    RelayException bad = JsonErrorHandler.errorFor(400, "Ambiguous URI path separator");
    assertThat(bad.code()).isEqualTo("bad_request");
    assertThat(bad.getMessage()).isEqualTo("Bad Request: Ambiguous URI path separator.");
    assertThat(bad.shouldRetry()).isFalse();

    RelayException failed = JsonErrorHandler.errorFor(500, "java.lang.IllegalStateException: pool user=admin");
    assertThat(failed.code()).isEqualTo("internal_error");
    assertThat(new String(failed.toJson(), StandardCharsets.UTF_8)).doesNotContain("admin").doesNotContain("Exception");
  }

  @Test
  void theShutdown503IsRelayClosedWithRetryAfter() {
    RelayException closing = JsonErrorHandler.errorFor(503, null);
    assertThat(closing.code()).isEqualTo("relay_closed");
    assertThat(closing.retryAfter()).isPresent();
  }

  @Test
  void aReasonWithControlCharactersOrTooLongIsLeftOut() {
    assertThat(JsonErrorHandler.errorFor(400, "bad\r\nX-Injected: 1").getMessage()).isEqualTo("Bad Request.");
    assertThat(JsonErrorHandler.errorFor(431, "x".repeat(500)).getMessage()).isEqualTo("Request Header Fields Too Large.");
  }
}
