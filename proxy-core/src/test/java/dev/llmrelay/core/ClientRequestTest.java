package dev.llmrelay.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** {@link ClientRequest#of}: an embedder's request carries the body's routing fields like the servlet's. */
class ClientRequestTest {
  private static ClientRequest of(String body) {
    return ClientRequest.of(Endpoint.CHAT_COMPLETIONS, body.getBytes(StandardCharsets.UTF_8), "id");
  }

  @Test
  void readsTopLevelModelModelsAndStream() {
    ClientRequest r = of("{\"messages\":[{\"role\":\"user\",\"content\":\"{\\\"model\\\":\\\"inner\\\"}\"}],"
        + "\"model\":\"openai/gpt-4o-mini\",\"models\":[\"a\",\" \",3,\"b\"],\"stream\":true,"
        + "\"metadata\":{\"model\":\"nested\"}}");
    assertThat(r.model()).isEqualTo("openai/gpt-4o-mini");
    assertThat(r.models()).containsExactly("a", "b");
    assertThat(r.streamRequested()).isTrue();
    assertThat(r.headers()).isEmpty();
  }

  @Test
  void aBodyThatIsNotAnObjectHasNoRoutingFields() {
    for (String body : new String[] {"", "[1,2]", "\"model\"", "{\"model\":"}) {
      ClientRequest r = of(body);
      assertThat(r.model()).as(body).isNull();
      assertThat(r.models()).as(body).isEmpty();
      assertThat(r.streamRequested()).as(body).isFalse();
    }
  }
}
