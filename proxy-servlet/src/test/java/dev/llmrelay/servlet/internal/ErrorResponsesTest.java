package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llmrelay.core.ConcurrencyLimitException;
import dev.llmrelay.core.UpstreamErrorException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ErrorResponsesTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  @Test
  void retryAfterIsRoundedUpToWholeSecondsAndClientsMayRetry() throws Exception {
    FakeResponse fake = new FakeResponse();

    boolean written =
        ErrorResponses.write(
            fake.response, new ConcurrencyLimitException(Duration.ofSeconds(2), Duration.ofMillis(1200)), "id-1");

    assertThat(written).as("written").isTrue();
    assertThat(fake.status).as("status").isEqualTo(503);
    assertThat(fake.header("Retry-After")).as("Retry-After of 1.2 s").isEqualTo("2");
    assertThat(fake.header("x-should-retry")).as("x-should-retry for a retryable error").isNull();
    assertThat(fake.header("X-Relay-Attempts")).as("attempts header without attempts").isNull();
    assertThat(fake.header("X-Request-Id")).as("request id").isEqualTo("id-1");
    assertThat(fake.header("Content-Type")).as("content type").isEqualTo("application/json");
    JsonNode error = MAPPER.readTree(fake.body.toByteArray()).path("error");
    assertThat(error.path("code").asText()).as("code").isEqualTo("concurrency_limit");
    assertThat(error.path("type").asText()).as("type").isEqualTo("proxy_error");
    assertThat(error.has("param") && error.get("param").isNull()).as("param is null").isTrue();
    assertThat(fake.header("Content-Length")).as("content length").isEqualTo(Integer.toString(fake.body.size()));
  }

  @Test
  void exhaustedUpstreamErrorSaysDoNotRetryAndCountsAttempts() throws Exception {
    FakeResponse fake = new FakeResponse();

    ErrorResponses.write(fake.response, new UpstreamErrorException(502, null, false, 3), "id-2");

    assertThat(fake.status).as("status").isEqualTo(502);
    assertThat(fake.header("x-should-retry")).as("x-should-retry").isEqualTo("false");
    assertThat(fake.header("X-Relay-Attempts")).as("attempts").isEqualTo("3");
    assertThat(fake.header("Retry-After")).as("no Retry-After").isNull();
  }

  @Test
  void committedResponseIsLeftAlone() throws Exception {
    FakeResponse fake = new FakeResponse();
    fake.committed = true;

    boolean written = ErrorResponses.write(fake.response, new InvalidJsonException("x"), "id-3");

    assertThat(written).as("written").isFalse();
    assertThat(fake.body.size()).as("bytes written").isZero();
  }

  @Test
  void wholeSecondsStayAsTheyAre() {
    assertThat(ErrorResponses.retryAfterSeconds(Duration.ofSeconds(30))).as("30 s").isEqualTo(30);
    assertThat(ErrorResponses.retryAfterSeconds(Duration.ofMillis(1))).as("1 ms").isEqualTo(1);
    assertThat(ErrorResponses.retryAfterSeconds(Duration.ZERO)).as("zero").isZero();
  }
}
