package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SseEventScannerTest {
  private static void feed(SseEventScanner scanner, String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(bytes, 0, scanner.writableBuffer(bytes.length), scanner.writeOffset(), bytes.length);
    scanner.appended(bytes.length);
  }

  @Test
  void onlyCompleteEventsAreReleasedEvenWhenSplitAcrossReads() {
    SseEventScanner scanner = new SseEventScanner(16);
    feed(scanner, ": OPENROUTER PROCESSING\n\nda");
    assertThat(scanner.completeLength()).isEqualTo(": OPENROUTER PROCESSING\n\n".length());
    assertThat(scanner.hasDataEvent()).as("a comment is not the commit point").isFalse();
    feed(scanner, "ta: {\"a\":1}\n");
    assertThat(scanner.hasDataEvent()).isFalse();
    feed(scanner, "\n");
    assertThat(scanner.hasDataEvent()).isTrue();
    assertThat(scanner.completeLength()).isEqualTo(scanner.size());
    assertThat(new String(scanner.firstDataPayload(), StandardCharsets.UTF_8)).isEqualTo("{\"a\":1}");
  }

  @Test
  void crlfLineEndingsEndEventsToo() {
    SseEventScanner scanner = new SseEventScanner(16);
    feed(scanner, "data: x\r\n\r\ndata: [DONE]\r\n\r\n");
    assertThat(scanner.dataEvents()).isEqualTo(2);
    assertThat(scanner.sawDone()).isTrue();
  }

  @Test
  void consumingKeepsTheIncompleteTailAndItsState() {
    SseEventScanner scanner = new SseEventScanner(16);
    feed(scanner, "data: 1\n\ndata: {\"choices\":[{\"finish_reason\": \"stop\"}]}");
    int complete = scanner.completeLength();
    scanner.consume(complete);
    assertThat(scanner.completeLength()).isZero();
    assertThat(scanner.size()).isEqualTo("data: {\"choices\":[{\"finish_reason\": \"stop\"}]}".length());
    assertThat(scanner.sawFinishReason()).as("not until the line ends").isFalse();
    feed(scanner, "\n\n");
    assertThat(scanner.sawFinishReason()).isTrue();
    assertThat(scanner.completeLength()).isEqualTo(scanner.size());
  }

  @Test
  void aNullFinishReasonIsNotAFinish() {
    SseEventScanner scanner = new SseEventScanner(16);
    feed(scanner, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":null}]}\n\n");
    assertThat(scanner.sawFinishReason()).isFalse();
    assertThat(scanner.sawDone()).isFalse();
  }

  @Test
  void theBufferGrowsForLargeEvents() {
    SseEventScanner scanner = new SseEventScanner(16);
    String big = "data: " + "x".repeat(100_000) + "\n\n";
    feed(scanner, big);
    assertThat(scanner.completeLength()).isEqualTo(big.length());
  }
}
