package dev.llmrelay.example.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The reduced soak of {@code verify}: 1,000 mixed requests (successes, 5xx, 429, cuts, timeouts,
 * client aborts, gate rejections) at concurrency 64 through an in-process proxy and simulator,
 * then the invariants of {@link Soak}. Needs neither nginx nor wrk.
 */
class SoakTest {
  @Test
  @Timeout(120)
  void aThousandMixedRequestsLeaveNoPermitConnectionExchangeOrThreadBehind() throws Exception {
    // Given the soak's mix at concurrency 64 against 16 permits
    Soak.Options options = Soak.Options.defaults().withRequests(1_000);
    ByteArrayOutputStream progress = new ByteArrayOutputStream();

    // When it runs to the end
    long started = System.nanoTime();
    Soak.Report report = Soak.run(options, new PrintStream(progress, true, StandardCharsets.UTF_8));
    Duration took = Duration.ofNanos(System.nanoTime() - started);
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    report.print(new PrintStream(printed, true, StandardCharsets.UTF_8));
    String summary = printed.toString(StandardCharsets.UTF_8);
    System.out.println(summary);
    System.out.println("soak took " + took.toMillis() + " ms");

    // Then every invariant holds and the mix really reached every kind of ending
    assertThat(report.violations()).as(summary).isEmpty();
    assertThat(report.sent()).as("requests sent").isEqualTo(1_000);
    assertThat(report.stats().requests()).as("requests the proxy finished").isEqualTo(1_000);
    assertThat(report.stats().success()).as("successes").isPositive();
    assertThat(report.stats().upstream5xx()).as("upstream 5xx passed on").isPositive();
    assertThat(report.stats().upstream4xx()).as("429 passed on").isPositive();
    assertThat(report.stats().timeouts()).as("timeouts").isPositive();
    assertThat(report.stats().midStreamFailures()).as("streams cut").isPositive();
    assertThat(report.stats().clientCancels()).as("client aborts").isPositive();
    assertThat(report.stats().rejected()).as("gate rejections").isPositive();
    assertThat(took).as("duration of the reduced soak").isLessThan(Duration.ofSeconds(60));
  }
}
