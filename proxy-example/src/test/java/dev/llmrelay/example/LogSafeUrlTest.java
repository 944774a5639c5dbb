package dev.llmrelay.example;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import org.junit.jupiter.api.Test;

/** Issue 11 (part): what the launcher logs of a URL never carries its credentials. */
class LogSafeUrlTest {

  @Test
  void userInfoIsMaskedAndTheQueryHidden() {
    assertThat(LogSafeUrl.of(URI.create("http://user:pw@upstream.example:8080/v1?key=sk-123")))
        .isEqualTo("http://***@upstream.example:8080/v1?***");
  }

  @Test
  void aUserNameAloneIsMaskedToo() {
    assertThat(LogSafeUrl.of(URI.create("https://sk-token@host/api/v1"))).isEqualTo("https://***@host/api/v1");
  }

  @Test
  void aPlainUrlIsLoggedAsItIs() {
    assertThat(LogSafeUrl.of(URI.create("https://openrouter.ai/api/v1"))).isEqualTo("https://openrouter.ai/api/v1");
    assertThat(LogSafeUrl.of(URI.create("http://[::1]:5000/v1"))).isEqualTo("http://[::1]:5000/v1");
  }

  @Test
  void theFragmentIsDroppedAndEncodedCredentialsStayHidden() {
    assertThat(LogSafeUrl.of(URI.create("http://us%40er:p%3Aw@h/v1#t=secret"))).isEqualTo("http://***@h/v1");
  }
}
