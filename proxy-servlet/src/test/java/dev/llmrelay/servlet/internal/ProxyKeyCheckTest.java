package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ProxyKeyCheckTest {
  private final ProxyKeyCheck check = new ProxyKeyCheck(List.of("key-one", "key-two"));

  @Test
  void everyConfiguredKeyIsAcceptedAsBearerToken() {
    assertThat(check.accepts("Bearer key-one")).as("first key").isTrue();
    assertThat(check.accepts("Bearer key-two")).as("second key").isTrue();
    assertThat(check.accepts("bearer key-two")).as("scheme is case-insensitive").isTrue();
    assertThat(check.accepts("Bearer  key-two ")).as("surrounding spaces").isTrue();
  }

  @Test
  void anythingElseIsRefused() {
    for (String header : new String[] {null, "", "Bearer", "Bearer ", "key-one", "Basic key-one", "Bearer key-on", "Bearer key-one1", "Bearer KEY-ONE"}) {
      assertThat(check.accepts(header)).as("Authorization <%s>", header).isFalse();
    }
    assertThatThrownBy(() -> check.check("Bearer nope")).isInstanceOf(InvalidProxyKeyException.class);
  }

  @Test
  void withoutKeysEveryRequestPasses() {
    ProxyKeyCheck off = new ProxyKeyCheck(List.of());

    assertThat(off.enabled()).as("enabled").isFalse();
    assertThatCode(() -> off.check(null)).as("no Authorization").doesNotThrowAnyException();
  }
}
