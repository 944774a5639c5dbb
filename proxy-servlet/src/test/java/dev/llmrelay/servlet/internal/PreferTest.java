package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/** RFC 7240 {@code Prefer} parsing: what the relay acts on, and what it ignores. */
class PreferTest {
  private static Prefer parse(String... headers) {
    return Prefer.parse(Collections.enumeration(List.of(headers)));
  }

  @Test
  void respondAsyncAndWaitInOneOrSeveralHeadersAnySpelling() {
    assertThat(parse("respond-async")).isEqualTo(new Prefer(true, -1));
    assertThat(parse("respond-async, wait=10")).isEqualTo(new Prefer(true, 10));
    assertThat(parse("Wait=5 ,  RESPOND-ASYNC")).isEqualTo(new Prefer(true, 5));
    assertThat(parse("return=minimal", "respond-async; foo=\"a,b\"", "wait=\"7\"")).isEqualTo(new Prefer(true, 7));
    assertThat(parse("respond-async=\"\"")).as("an empty value is still the preference").isEqualTo(new Prefer(true, -1));
  }

  @Test
  void whatIsNotUnderstoodIsIgnored() {
    assertThat(parse()).isEqualTo(Prefer.NONE);
    assertThat(parse("")).isEqualTo(Prefer.NONE);
    assertThat(parse("respond-asynchronously, handling=lenient")).isEqualTo(Prefer.NONE);
    assertThat(parse("respond-async, wait=soon")).isEqualTo(new Prefer(true, -1));
    assertThat(parse("respond-async, wait=-1")).isEqualTo(new Prefer(true, -1));
    assertThat(parse("wait=3")).as("wait alone does not make a job").isEqualTo(new Prefer(false, 3));
    assertThat(parse("foo=\"respond-async\"")).as("inside a quoted value").isEqualTo(Prefer.NONE);
    assertThat(parse("wait=1, wait=9, respond-async")).as("the first one counts").isEqualTo(new Prefer(true, 1));
  }

  @Test
  void theWaitIsCapped() {
    assertThat(parse("respond-async, wait=600").waitAtMost(Duration.ofSeconds(60))).isEqualTo(Duration.ofSeconds(60));
    assertThat(parse("respond-async, wait=3").waitAtMost(Duration.ofSeconds(60))).isEqualTo(Duration.ofSeconds(3));
    assertThat(parse("respond-async").waitAtMost(Duration.ofSeconds(60))).isZero();
    assertThat(parse("respond-async, wait=99999999999").waitSeconds()).as("too long to be a number of ours").isEqualTo(-1);
  }
}
