package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ClientRequestReaderTest {
  private static ByteArrayInputStream bytes(String s) {
    return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void declaredLengthOverTheLimitIsRefusedBeforeReadingAnything() {
    InputStream untouchable =
        new InputStream() {
          @Override
          public int read() {
            throw new AssertionError("the body must not be read");
          }
        };

    assertThatThrownBy(() -> new ClientRequestReader(100).read(101, untouchable))
        .as("declared 101 bytes against a limit of 100")
        .isInstanceOf(RequestTooLargeException.class);
  }

  @Test
  void undeclaredBodyIsCutAtTheLimit() throws Exception {
    String exactly100 = "{\"p\":\"" + "x".repeat(92) + "\"}";
    assertThat(exactly100).hasSize(100);

    assertThat(new ClientRequestReader(100).read(-1, bytes(exactly100)).bytes())
        .as("a body of exactly the limit")
        .hasSize(100);
    assertThatThrownBy(() -> new ClientRequestReader(100).read(-1, bytes(exactly100 + " ")))
        .as("one byte more, no Content-Length")
        .isInstanceOf(RequestTooLargeException.class);
    assertThatThrownBy(() -> new ClientRequestReader(100).read(10, bytes(exactly100 + " ")))
        .as("a Content-Length that lies")
        .isInstanceOf(RequestTooLargeException.class);
  }

  @Test
  void topLevelModelModelsAndStreamAreExtractedAndTheBodyIsKeptAsSent() throws Exception {
    String json = "{\"messages\":[{\"model\":\"inner\",\"stream\":false}],\"model\":\"gpt\\n-x\","
        + "\"models\":[\"a\",\"\",7,\"b\"],\"stream\":true}";

    ClientBody body = new ClientRequestReader(1024).read(json.length(), bytes(json));

    assertThat(body.model()).as("model exactly as sent (logs clean it themselves)").isEqualTo("gpt\n-x");
    assertThat(body.models()).as("the models array's names").containsExactly("a", "b");
    assertThat(body.streamRequested()).as("stream").isTrue();
    assertThat(new String(body.bytes(), StandardCharsets.UTF_8)).as("bytes").isEqualTo(json);
  }

  @Test
  void onlyOneJsonObjectIsAccepted() {
    ClientRequestReader reader = new ClientRequestReader(1024);
    for (String bad : new String[] {"", "  ", "[]", "\"s\"", "42", "null", "{", "{\"a\":1}}", "{\"a\":1} {}", "{'a':1}", "{\"a\":NaN}", "\u00ff"}) {
      assertThatThrownBy(() -> reader.read(-1, bytes(bad)))
          .as("body <%s>", bad)
          .isInstanceOf(InvalidJsonException.class)
          .hasMessageNotContaining("'a'");
    }
  }

  @Test
  void errorMessageGivesThePositionButNotTheContent() {
    assertThatThrownBy(() -> new ClientRequestReader(1024).read(-1, bytes("{\"k\": sk-secret-value}")))
        .isInstanceOf(InvalidJsonException.class)
        .hasMessageContaining("line 1, column")
        .hasMessageNotContaining("secret");
  }

  @Test
  void stringsLongerThanJacksonsDefaultLimitAreAcceptedWithinTheBodyLimit() throws Exception {
    // base64 images in vision requests: Jackson's default maxStringLength is 20,000,000
    int length = 20_000_100;
    byte[] json = new byte[length + 10];
    byte[] head = "{\"i\":\"".getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(head, 0, json, 0, head.length);
    java.util.Arrays.fill(json, head.length, head.length + length, (byte) 'A');
    byte[] tail = "\"}".getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(tail, 0, json, head.length + length, tail.length);
    byte[] exact = java.util.Arrays.copyOf(json, head.length + length + tail.length);

    ClientBody body = new ClientRequestReader(32L * 1024 * 1024).read(exact.length, new ByteArrayInputStream(exact));

    assertThat(body.bytes()).as("body").hasSize(exact.length);
  }
}
